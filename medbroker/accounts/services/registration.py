"""A company signs itself up: its organisation and its first applicant account, together or not at all."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation, Role, RoleAssignment, User
from medbroker.accounts.validators import business_registration_number_validate
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError

BUSINESS_REGISTRATION_NUMBER_TAKEN = _(
    "이미 가입된 사업자등록번호입니다. 같은 회사의 담당자라면 기존 계정으로 로그인하거나 "
    "접수 문의(053-281-0129)로 연락해 주세요."
)
USERNAME_TAKEN = _("이미 사용 중인 아이디입니다. 다른 아이디를 입력해 주세요.")


@transaction.atomic
def company_register(
    *,
    company_name: str,
    business_registration_number: str,
    representative: str,
    address: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    username: str,
    password: str,
    display_name: str,
    privacy_consent: bool,
    request: HttpRequest | None = None,
) -> User:
    """Create a company organisation and its first user (role: applicant); return the user.

    The first user is the company's contact person, so the account takes the contact e-mail and phone.
    Raises ``DomainError`` with ``field`` set when a value is refused; nothing is created then.
    """
    if not privacy_consent:
        # The platform may not hold a person's data without this consent (개인정보 보호법 §15).
        raise DomainError(
            "privacy_consent_required",
            _("개인정보 수집·이용에 동의해야 가입할 수 있습니다."),
            field="privacy_consent",
        )
    try:
        number = business_registration_number_validate(business_registration_number)
    except ValidationError as exc:
        raise DomainError(
            exc.code or "business_registration_number_invalid",
            exc.messages[0],
            field="business_registration_number",
        ) from exc
    if Organisation.objects.filter(business_registration_number=number).exists():
        raise DomainError(
            "business_registration_number_taken",
            BUSINESS_REGISTRATION_NUMBER_TAKEN,
            field="business_registration_number",
        )
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError("username_taken", USERNAME_TAKEN, field="username")
    candidate = User(username=username, email=contact_email, display_name=display_name)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise DomainError("password_invalid", " ".join(exc.messages), field="password") from exc

    try:
        # The unique constraints are the last word when two sign-ups race past the checks above.
        with transaction.atomic():
            organisation = Organisation.objects.create(
                kind=Organisation.Kind.COMPANY,
                name=company_name,
                business_registration_number=number,
                representative=representative,
                address=address,
                contact_name=contact_name,
                contact_email=contact_email,
                contact_phone=contact_phone,
            )
            user = User.objects.create_user(
                username=username,
                password=password,
                email=contact_email,
                display_name=display_name,
                phone=contact_phone,
                organisation=organisation,
                privacy_consented_at=timeutils.now(),
            )
    except IntegrityError as exc:
        raise DomainError(
            "company_registration_conflict",
            _("같은 사업자등록번호나 아이디로 방금 가입이 처리되었습니다. 입력 내용을 확인해 주세요."),
        ) from exc
    RoleAssignment.objects.create(user=user, role=Role.APPLICANT)
    audit_record(
        action="accounts.company_registered",
        actor=user,
        target=organisation,
        summary=f"기업 회원가입: {organisation.name} ({organisation.business_registration_number_display})",
        data={
            "organisation_id": organisation.pk,
            "business_registration_number": number,
            "user_id": user.pk,
            "username": user.username,
            "privacy_consent": True,
        },
        request=request,
    )
    return user
