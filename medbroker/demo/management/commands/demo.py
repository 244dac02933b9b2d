"""``medbroker demo``: load the 2025 call, its catalogue, a practice call and demo accounts (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import mail
from django.core.management.base import BaseCommand

from medbroker.accounts.demo import accounts_demo_load
from medbroker.calls.demo import calls_demo_load
from medbroker.catalog.demo import catalog_demo_load
from medbroker.compute.demo import workspaces_demo_load
from medbroker.demo.support import support_demo_load
from medbroker.evaluations.demo import evaluations_demo_load
from medbroker.ingest.demo import ingest_demo_load
from medbroker.reviews.demo import reviews_demo_load


class Command(BaseCommand):
    help = (
        "데모 데이터(2025년 공모와 평가위원회, 데이터 카탈로그와 스캔 예시, 연습용 공모와 선정 기업의 협약·이용, 데모 계정)를 "
        "불러옵니다."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Loading goes through the services, which send the notices of real use; in the terminal those
        # e-mails would bury the logins, so they are kept in memory here and only counted.
        backend = settings.EMAIL_BACKEND
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        try:
            self._load()
        finally:
            settings.EMAIL_BACKEND = backend

    def _load(self) -> None:
        catalog = catalog_demo_load()
        logins = accounts_demo_load(steward_organisation=catalog.steward_organisation)
        calls = calls_demo_load()
        reviews = reviews_demo_load()
        support = support_demo_load()
        # After the accounts: the scan is requested by the demo steward, and its findings notify the operators.
        ingest = ingest_demo_load()
        # Last: the performance test needs 메디비전랩's agreement in force (support) and the demo operator.
        evaluations = evaluations_demo_load()
        # After the grants (support) and the scan roots' demo folders (ingest).
        workspaces = workspaces_demo_load()
        self.stdout.write(self.style.SUCCESS("데모 데이터를 불러왔습니다."))
        sent = len(getattr(mail, "outbox", []))
        if sent:
            self.stdout.write(f"  · 알림 메일 {sent}통(데모 적재 중에는 화면에 출력하지 않음)")
        for line in [
            *catalog.summary_lines,
            *calls.summary_lines,
            *reviews.summary_lines,
            *support.summary_lines,
            *ingest.summary_lines,
            *evaluations.summary_lines,
            *workspaces.summary_lines,
        ]:
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
