"""Demo accounts for ``medbroker demo``: one per role, with fixed passwords printed at the end.

Operators and data stewards must pass a second factor; for the demo each gets a static backup-code device
with known codes (printed), so a new user can sign in without an authenticator app. Each code works once;
running the demo again issues them anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from medbroker.accounts.models import Organisation, Role, RoleAssignment, User

DEMO_BACKUP_CODES = ("11111111", "22222222", "33333333", "44444444", "55555555")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    organisation: str
    backup_codes: tuple[str, ...] = ()


LAB_NAME = "한국산업기술시험원"
DEMO_COMPANY_NAME = "대구메디AI 주식회사"


def lab_organisation() -> Organisation:
    lab, _ = Organisation.objects.update_or_create(
        kind=Organisation.Kind.LAB,
        name=LAB_NAME,
        defaults={
            "name_en": "Korea Testing Laboratory (KTL)",
            "address": "대구광역시 동구 첨단로 (대구의료인공지능개발지원센터)",
            "contact_phone": "053-281-0034",
        },
    )
    return lab


def _user(
    username: str, password: str, *, organisation: Organisation, roles: Sequence[str], display_name: str
) -> User:
    user, _ = User.objects.get_or_create(username=username)
    user.organisation = organisation
    user.display_name = display_name
    user.email = f"{username}@demo.medbroker.local"
    user.is_active = True
    user.set_password(password)
    user.save()
    for role in roles:
        RoleAssignment.objects.get_or_create(user=user, role=role)
    return user


def _backup_codes(user: User) -> tuple[str, ...]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="데모 백업 코드", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    for code in DEMO_BACKUP_CODES:
        StaticToken.objects.create(device=device, token=code)
    return DEMO_BACKUP_CODES


@transaction.atomic
def accounts_demo_load(*, steward_organisation: Organisation) -> list[DemoLogin]:
    lab = lab_organisation()
    company, _ = Organisation.objects.update_or_create(
        business_registration_number="1208147521",
        defaults={
            "kind": Organisation.Kind.COMPANY,
            "name": DEMO_COMPANY_NAME,
            "name_en": "Daegu Medi AI Inc.",
            "representative": "김대표",
            "address": "대구광역시 동구 동내로 88",
            "contact_name": "이담당",
            "contact_email": "contact@demo-medi-ai.local",
            "contact_phone": "053-000-1234",
        },
    )
    reviewer_org, _ = Organisation.objects.get_or_create(
        kind=Organisation.Kind.INSTITUTION, name="대구 의료AI 평가위원회(외부)"
    )
    logins = []
    specs = [
        ("operator", "demo-operator-2025", lab, [Role.OPERATOR], "박운영"),
        ("auditor", "demo-auditor-2025", lab, [Role.AUDITOR], "최감사"),
        ("reviewer", "demo-reviewer-2025", reviewer_org, [Role.REVIEWER], "정평가"),
        ("steward", "demo-steward-2025", steward_organisation, [Role.DATA_STEWARD], "한데이터"),
        ("company", "demo-company-2025", company, [Role.APPLICANT], "이담당"),
    ]
    for username, password, organisation, roles, display_name in specs:
        user = _user(username, password, organisation=organisation, roles=roles, display_name=display_name)
        codes = _backup_codes(user) if user.needs_second_factor else ()
        logins.append(DemoLogin(username, password, str(Role(roles[0]).label), organisation.name, codes))
    return logins
