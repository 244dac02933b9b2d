from __future__ import annotations

import pytest
from django.urls import reverse

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import TEST_PASSWORD, UserFactory
from medbroker.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

COMPANY_URL = reverse("accounts:company")
PROFILE_URL = reverse("accounts:profile")

COMPANY_POST = {
    "representative": "박대표",
    "address": "대구광역시 북구 호암로 51",
    "contact_name": "최담당",
    "contact_email": "new-contact@daegu-medi.example",
    "contact_phone": "053-555-0101",
}


def _snapshot(organisation: Organisation) -> dict[str, object]:
    return Organisation.objects.filter(pk=organisation.pk).values().get()


def test_company_page_shows_own_company(client, login, applicant, company):
    login(client, applicant)

    response = client.get(COMPANY_URL)

    assert response.status_code == 200
    assert response.context["organisation"] == company
    html = response.content.decode()
    assert "대구메디AI" in html
    assert "120-81-47521" in html
    assert list(response.context["members"]) == [applicant]


def test_company_profile_update_is_saved_and_audited(client, login, applicant, company):
    login(client, applicant)
    before = _snapshot(company)

    response = client.post(COMPANY_URL, COMPANY_POST)

    assert response.status_code == 302
    assert response["Location"] == COMPANY_URL
    company.refresh_from_db()
    assert (
        company.representative,
        company.address,
        company.contact_name,
        company.contact_email,
        company.contact_phone,
    ) == tuple(COMPANY_POST.values())
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.object_id) == (
        "accounts.organisation_updated",
        applicant.pk,
        str(company.pk),
    )
    assert event.data == {
        "changes": {
            "representative": [before["representative"], "박대표"],
            "address": [before["address"], "대구광역시 북구 호암로 51"],
            "contact_name": [before["contact_name"], "최담당"],
            "contact_email": [before["contact_email"], "new-contact@daegu-medi.example"],
            "contact_phone": [before["contact_phone"], "053-555-0101"],
        }
    }


def test_saving_unchanged_values_writes_no_event(client, login, applicant, company):
    login(client, applicant)
    client.post(COMPANY_URL, COMPANY_POST)

    response = client.post(COMPANY_URL, COMPANY_POST)

    assert response.status_code == 302
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["accounts.organisation_updated"]


def test_forged_organisation_fields_cannot_reach_another_company(
    client, login, applicant, company, other_company
):
    login(client, applicant)
    other_before = _snapshot(other_company)
    forged = {
        **COMPANY_POST,
        "organisation": other_company.pk,
        "organisation_id": other_company.pk,
        "id": other_company.pk,
        "pk": other_company.pk,
        "name": "바뀐이름",
        "business_registration_number": "2208162517",
        "kind": "lab",
    }

    response = client.post(f"{COMPANY_URL}?organisation={other_company.pk}", forged)

    assert response.status_code == 302
    assert _snapshot(other_company) == other_before
    company.refresh_from_db()
    assert (company.name, company.business_registration_number, company.kind) == (
        "대구메디AI",
        "1208147521",
        "company",
    )
    assert company.representative == "박대표"


def test_each_member_sees_only_their_own_company(client, login, other_applicant, other_company):
    login(client, other_applicant)

    response = client.get(COMPANY_URL)

    assert response.context["organisation"] == other_company
    assert "대구메디AI" not in response.content.decode()


def test_bad_company_value_is_refused_and_nothing_changes(client, login, applicant, company):
    login(client, applicant)
    before = _snapshot(company)

    response = client.post(COMPANY_URL, {**COMPANY_POST, "contact_phone": "12", "contact_email": "x"})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "contact_email": ["올바른 이메일 주소를 입력하세요."],
        "contact_phone": ["전화번호는 053-281-0129 또는 010-1234-5678 형식으로 입력해 주세요."],
    }
    assert 'value="박대표"' in response.content.decode()
    assert _snapshot(company) == before
    assert AuditEvent.objects.count() == 0


def test_applicant_without_a_company_gets_404(client, login, db):
    loner = UserFactory(username="loner", organisation=None, roles=[Role.APPLICANT])
    login(client, loner)

    assert client.get(COMPANY_URL).status_code == 404


def test_profile_update_is_saved_and_audited(client, login, applicant):
    login(client, applicant)

    response = client.post(PROFILE_URL, {"profile-display_name": "새이름", "profile-phone": "010-1234-5678"})

    assert response.status_code == 302
    assert response["Location"] == PROFILE_URL
    applicant.refresh_from_db()
    assert (applicant.display_name, applicant.phone) == ("새이름", "010-1234-5678")
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id) == ("accounts.profile_updated", applicant.pk)
    assert event.data["changes"]["display_name"][1] == "새이름"


def test_bad_profile_value_is_refused_and_the_header_keeps_the_stored_name(client, login, applicant):
    login(client, applicant)
    stored_name = applicant.display_name

    response = client.post(PROFILE_URL, {"profile-display_name": "", "profile-phone": "123"})

    assert response.status_code == 200
    assert response.context["profile_form"].errors == {
        "display_name": ["필수 항목입니다."],
        "phone": ["전화번호는 053-281-0129 또는 010-1234-5678 형식으로 입력해 주세요."],
    }
    assert f'<span class="mb-user">{stored_name}' in response.content.decode()
    assert User.objects.get(pk=applicant.pk).display_name == stored_name
    assert AuditEvent.objects.count() == 0


def test_profile_shows_second_factor_state(client, login, operator, applicant):
    login(client, operator)
    operator_page = client.get(PROFILE_URL).content.decode()
    client.logout()
    login(client, applicant)
    applicant_page = client.get(PROFILE_URL).content.decode()

    assert "인증 앱 등록됨" in operator_page
    assert "인증 앱 미등록" in applicant_page
    assert "2단계 인증은 선택 사항입니다." in applicant_page
    assert reverse("accounts:otp_setup") in applicant_page
    assert reverse("accounts:password_change") in applicant_page


def test_password_change_keeps_the_session_and_is_audited(client, login, applicant):
    login(client, applicant)
    new_password = "a-new-daegu-password-7"

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )

    assert response.status_code == 302
    assert response["Location"] == PROFILE_URL
    applicant.refresh_from_db()
    assert applicant.check_password(new_password)
    assert client.get(PROFILE_URL).status_code == 200
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["accounts.password_changed"]


def test_password_change_revokes_the_users_api_tokens(client, login, applicant, other_applicant):
    from medbroker.accounts.models import ApiToken
    from medbroker.accounts.services.api_tokens import api_token_create

    mine, _ = api_token_create(user=applicant, name="CI")
    theirs, _ = api_token_create(user=other_applicant, name="CI")
    login(client, applicant)
    new_password = "a-new-daegu-password-7"

    client.post(
        reverse("accounts:password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )

    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert AuditEvent.objects.get(action="accounts.password_changed").data == {"api_tokens_revoked": 1}


def test_password_change_with_wrong_old_password_changes_nothing(client, login, applicant):
    login(client, applicant)

    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "wrong",
            "new_password1": "a-new-daegu-password-7",
            "new_password2": "a-new-daegu-password-7",
        },
    )

    assert response.status_code == 200
    applicant.refresh_from_db()
    assert applicant.check_password(TEST_PASSWORD)
    assert AuditEvent.objects.count() == 0
