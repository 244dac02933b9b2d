from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.services import company_register
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError

pytestmark = pytest.mark.django_db

SIGNUP_URL = reverse("accounts:signup")
PASSWORD = "daegu-medi-ai-2025!"


def valid_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "company_name": "새봄헬스케어",
        "business_registration_number": "220-81-62517",
        "representative": "김대표",
        "address": "대구광역시 동구 첨단로 39",
        "contact_name": "이담당",
        "contact_email": "contact@saebom.example",
        "contact_phone": "053-123-4567",
        "username": "saebom",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "display_name": "이담당",
        "privacy_consent": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_signup_creates_company_and_applicant_and_signs_in(client):
    response = client.post(SIGNUP_URL, valid_data())

    assert response.status_code == 302
    assert response["Location"] == "/"
    organisation = Organisation.objects.get(business_registration_number="2208162517")
    assert (
        organisation.kind,
        organisation.name,
        organisation.representative,
        organisation.address,
        organisation.contact_name,
        organisation.contact_email,
        organisation.contact_phone,
    ) == (
        "company",
        "새봄헬스케어",
        "김대표",
        "대구광역시 동구 첨단로 39",
        "이담당",
        "contact@saebom.example",
        "053-123-4567",
    )
    user = User.objects.get(username="saebom")
    assert user.organisation == organisation
    assert (user.display_name, user.email, user.phone) == ("이담당", "contact@saebom.example", "053-123-4567")
    assert user.privacy_consented_at is not None
    assert user.check_password(PASSWORD)
    assert list(user.role_assignments.values_list("role", flat=True)) == [Role.APPLICANT]
    assert int(client.session["_auth_user_id"]) == user.pk
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "새봄헬스케어 기업 회원가입이 완료되었습니다. 공모 안내에서 지원 신청을 시작할 수 있습니다."
    ]
    event = AuditEvent.objects.get(action="accounts.company_registered")
    assert (event.actor_id, event.object_type, event.object_id) == (
        user.pk,
        "accounts.organisation",
        str(organisation.pk),
    )
    assert event.data == {
        "organisation_id": organisation.pk,
        "business_registration_number": "2208162517",
        "user_id": user.pk,
        "username": "saebom",
        "privacy_consent": True,
    }
    assert event.summary == "기업 회원가입: 새봄헬스케어 (220-81-62517)"


def test_signup_page_renders_every_field(client):
    response = client.get(SIGNUP_URL)

    assert response.status_code == 200
    html = response.content.decode()
    for name in valid_data():
        assert f'name="{name}"' in html
    assert "개인정보 수집·이용 동의" in html


KEPT_FIELDS = (
    "company_name",
    "business_registration_number",
    "representative",
    "address",
    "contact_name",
    "contact_email",
    "contact_phone",
    "username",
    "display_name",
)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("company_name", "", "필수 항목입니다."),
        (
            "business_registration_number",
            "220-81-62510",
            "유효하지 않은 사업자등록번호입니다. 번호를 다시 확인해 주세요(검증 숫자 불일치).",
        ),
        (
            "business_registration_number",
            "22081625",
            "사업자등록번호는 숫자 10자리 또는 123-45-67890 형식으로 입력해 주세요.",
        ),
        ("representative", "", "필수 항목입니다."),
        ("address", "", "필수 항목입니다."),
        ("contact_name", "", "필수 항목입니다."),
        ("contact_email", "not-an-email", "올바른 이메일 주소를 입력하세요."),
        ("contact_phone", "12345", "전화번호는 053-281-0129 또는 010-1234-5678 형식으로 입력해 주세요."),
        (
            "username",
            "bad name!",
            "유효한 사용자 이름을 입력하세요. 이곳에는 문자, 숫자, @/./+/-/_만 가능합니다.",
        ),
        ("display_name", "", "필수 항목입니다."),
        ("password_confirm", "something-else-2025", "비밀번호가 서로 다릅니다."),
        ("privacy_consent", None, "개인정보 수집·이용에 동의해야 가입할 수 있습니다."),
    ],
)
def test_a_bad_field_is_refused_inline_and_the_other_values_are_kept(client, field, value, error):
    data = valid_data(**{field: value})

    response = client.post(SIGNUP_URL, data)

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors == {field: [error]}
    html = response.content.decode()
    assert f'<p class="form-hint-invalid" role="alert">{error}</p>' in html
    for kept in KEPT_FIELDS:
        if kept != field:
            assert f'name="{kept}" value="{data[kept]}"' in html, kept
    assert Organisation.objects.count() == 0
    assert User.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("password", "errors"),
    [
        ("short1!", ["이 비밀번호는 너무 짧습니다. 최소 10자 이상이어야 합니다."]),
        ("1234567890123", ["너무 흔히 사용되는 비밀번호입니다.", "비밀번호가 전부 숫자로 되어 있습니다."]),
        ("saebom-2025", None),
    ],
)
def test_password_follows_the_django_validators(client, password, errors):
    response = client.post(SIGNUP_URL, valid_data(password=password, password_confirm=password))

    assert response.status_code == 200
    if errors is None:
        assert response.context["form"].errors["password"] == ["비밀번호가 사용자 이름와 너무 유사합니다."]
    else:
        assert response.context["form"].errors["password"] == errors
    assert User.objects.count() == 0


def test_duplicate_business_registration_number_is_refused(client, company):
    # company (conftest) holds 1208147521
    response = client.post(SIGNUP_URL, valid_data(business_registration_number="120-81-47521"))

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "business_registration_number": [
            "이미 가입된 사업자등록번호입니다. 같은 회사의 담당자라면 기존 계정으로 로그인하거나 "
            "접수 문의(053-281-0129)로 연락해 주세요."
        ]
    }
    assert list(Organisation.objects.values_list("pk", flat=True)) == [company.pk]
    assert User.objects.count() == 0


def test_duplicate_username_is_refused_whatever_its_case(client, applicant):
    response = client.post(SIGNUP_URL, valid_data(username="APPLICANT"))

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "username": ["이미 사용 중인 아이디입니다. 다른 아이디를 입력해 주세요."]
    }
    assert Organisation.objects.filter(business_registration_number="2208162517").exists() is False


def test_signed_in_user_is_sent_home(client, login, applicant):
    login(client, applicant)

    response = client.get(SIGNUP_URL)

    assert response.status_code == 302
    assert response["Location"] == "/"


def _service_kwargs(**overrides: object) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "company_name": "새봄헬스케어",
        "business_registration_number": "2208162517",
        "representative": "김대표",
        "address": "대구광역시 동구 첨단로 39",
        "contact_name": "이담당",
        "contact_email": "contact@saebom.example",
        "contact_phone": "053-123-4567",
        "username": "saebom",
        "password": PASSWORD,
        "display_name": "이담당",
        "privacy_consent": True,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"privacy_consent": False}, "privacy_consent_required", "privacy_consent"),
        (
            {"business_registration_number": "2208162510"},
            "business_registration_number_check_digit",
            "business_registration_number",
        ),
        (
            {"business_registration_number": "1208147521"},
            "business_registration_number_taken",
            "business_registration_number",
        ),
        ({"username": "applicant"}, "username_taken", "username"),
        ({"password": "1234567890"}, "password_invalid", "password"),
    ],
)
def test_service_refuses_and_creates_nothing(applicant, overrides, code, field):
    organisations_before = Organisation.objects.count()

    with pytest.raises(DomainError) as excinfo:
        company_register(**_service_kwargs(**overrides))  # type: ignore[arg-type]

    assert (excinfo.value.code, excinfo.value.field) == (code, field)
    assert Organisation.objects.count() == organisations_before
    assert User.objects.count() == 1
    assert AuditEvent.objects.count() == 0
