"""``medbroker demo``: load the 2025 call, its catalogue, a practice call and demo accounts (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from medbroker.accounts.demo import accounts_demo_load
from medbroker.calls.demo import calls_demo_load
from medbroker.catalog.demo import catalog_demo_load
from medbroker.reviews.demo import reviews_demo_load


class Command(BaseCommand):
    help = "데모 데이터(2025년 공모와 평가위원회, 데이터 카탈로그, 연습용 공모, 데모 계정)를 불러옵니다."

    def handle(self, *args: Any, **options: Any) -> None:
        catalog = catalog_demo_load()
        logins = accounts_demo_load(steward_organisation=catalog.steward_organisation)
        calls = calls_demo_load()
        reviews = reviews_demo_load()
        self.stdout.write(self.style.SUCCESS("데모 데이터를 불러왔습니다."))
        for line in [*catalog.summary_lines, *calls.summary_lines, *reviews.summary_lines]:
            self.stdout.write(f"  · {line}")
        self.stdout.write("")
        self.stdout.write("데모 계정 (http://127.0.0.1:8000/accounts/login/):")
        self.stdout.write(f"  {'아이디':<10} {'비밀번호':<22} {'역할':<12} 소속")
        for login in logins:
            self.stdout.write(
                f"  {login.username:<10} {login.password:<22} {login.role:<12} {login.organisation}"
            )
            if login.backup_codes:
                self.stdout.write(f"  {'':<10} 2단계 인증 백업 코드(각 1회): {', '.join(login.backup_codes)}")
        self.stdout.write("새 기업은 '기업 회원가입'으로 직접 가입할 수 있습니다.")
