"""The grant pages and API as the company and the operator use them, with the clock frozen."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from medbroker.access.models import AccessGrant, OnlineSession, ViewingRequest
from medbroker.access.services.grants import grant_mode_set, grants_issue
from medbroker.access.services.online import online_account_issue, online_session_end, online_session_start
from medbroker.accounts.models import Organisation, User
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

Login = Callable[[Client, User | None], Client]


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


@pytest.fixture
def agreement(operator: User, applicant: User, company: Organisation) -> Agreement:
    return active_agreement(company=company, allows_online=True)


@pytest.fixture
def device(applicant: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=applicant, name="인증 앱", confirmed=True)


@pytest.fixture
def granted(agreement: Agreement, operator: User, applicant: User, device: TOTPDevice) -> list[AccessGrant]:
    """The standard dataset in the closed room, the low-sensitivity one online, the member's VPN account."""
    closed_room, online = grants_issue(agreement=agreement, actor=operator)
    online = grant_mode_set(grant=online, mode="online", actor=operator)
    online_account_issue(
        agreement=agreement, user=applicant, vpn_account="vpn-017", vdi_account="vdi-017", actor=operator
    )
    return [closed_room, online]


def code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def _messages(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


def test_company_sees_its_grants_with_window_days_left_and_the_otp_form(
    granted: list[AccessGrant], applicant: User, client: Client, login: Login
) -> None:
    login(client, applicant)

    response = client.get(reverse("access:grant_list"))

    html = response.content.decode()
    rows = response.context["rows"]
    assert [(r.grant.dataset.sensitivity, r.state, r.days_left) for r in rows] == [
        ("standard", "usable", 75),
        ("low", "usable", 75),
    ]
    assert html.count("2025-09-15 10:00 ~ 2025-11-28 23:59:59 (KST)") == 2
    assert html.count("75일 남음") == 2
    assert reverse("access:online_session_start", args=[granted[1].pk]) in html
    assert reverse("access:online_session_start", args=[granted[0].pk]) not in html
    # The agreement's page reads the same grants, without the operator's forms.
    agreement_page = client.get(reverse("access:agreement_grants", args=[granted[0].agreement_id]))
    assert agreement_page.context["can_write"] is False
    assert reverse("access:grant_revoke", args=[granted[0].pk]) not in agreement_page.content.decode()


def test_at_midnight_after_the_last_day_the_page_says_expired_without_any_job(
    granted: list[AccessGrant], applicant: User, client: Client, login: Login
) -> None:
    with time_machine.travel(kst(2025, 11, 29), tick=False):
        response = login(client, applicant).get(reverse("access:grant_list"))

    assert [r.state for r in response.context["rows"]] == ["expired", "expired"]
    assert response.content.decode().count('<span class="mb-status closed">기간 만료</span>') == 2
    assert reverse("access:online_session_start", args=[granted[1].pk]) not in response.content.decode()
    assert list(AccessGrant.objects.values_list("status", flat=True)) == ["active", "active"]


def test_a_session_starts_from_the_page_only_with_the_current_code(
    granted: list[AccessGrant], applicant: User, device: TOTPDevice, client: Client, login: Login
) -> None:
    login(client, applicant)
    url = reverse("access:online_session_start", args=[granted[1].pk])
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"

    refused = client.post(url, {"otp_code": wrong}, follow=True)
    sessions_after_refusal = OnlineSession.objects.count()
    # django-otp slows down guessing: the next try is accepted only after a pause.
    with time_machine.travel(kst(2025, 9, 15, 10, 0, 5), tick=False):
        started = client.post(url, {"otp_code": code(device)}, REMOTE_ADDR="198.51.100.4", follow=True)

    assert _messages(refused) == [
        "인증 코드가 올바르지 않습니다. 인증 앱에 표시된 최신 코드를 입력해 주세요."
    ]
    assert sessions_after_refusal == 0
    assert _messages(started) == [
        "온라인 이용 세션을 시작했습니다. SSL-VPN 계정 vpn-017로 접속한 뒤 VDI 계정 vdi-017로 로그인하세요."
    ]
    session = OnlineSession.objects.get()
    assert (session.client_address, session.started_at) == ("198.51.100.4", kst(2025, 9, 15, 10, 0, 5))
    assert AuditEvent.objects.get(action="access.online_session_started").ip_address == "198.51.100.4"


def test_staff_list_filters_by_the_state_at_request_time(
    granted: list[AccessGrant], auditor: User, client: Client, login: Login
) -> None:
    with time_machine.travel(kst(2025, 11, 29), tick=False):
        login(client, auditor)
        expired = client.get(reverse("access:grant_list"), {"state": "expired", "sort": "-dataset"})
        usable = client.get(reverse("access:grant_list"), {"state": "usable"})

    # "흉부 X-ray …" sorts after "위 내시경 …": descending puts the online grant first.
    assert [r.grant.pk for r in expired.context["rows"]] == [granted[1].pk, granted[0].pk]
    assert usable.context["rows"] == []
    # Auditors read; the write forms are not on their pages.
    page = client.get(reverse("access:agreement_grants", args=[granted[0].agreement_id])).content.decode()
    assert reverse("access:grant_revoke", args=[granted[0].pk]) not in page


def test_operator_page_refuses_online_for_standard_data_with_the_reason(
    granted: list[AccessGrant], operator: User, client: Client, login: Login
) -> None:
    login(client, operator)

    response = client.post(
        reverse("access:grant_mode", args=[granted[0].pk]), {"mode": "online"}, follow=True
    )

    assert _messages(response) == [
        "민감도가 '보통'인 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. 온라인 이용은 민감도 '낮음' 데이터에만 허용됩니다."
    ]
    assert AccessGrant.objects.get(pk=granted[0].pk).mode == "closed_room"


def test_operator_revokes_from_the_page_only_with_a_reason(
    granted: list[AccessGrant], operator: User, client: Client, login: Login
) -> None:
    login(client, operator)
    url = reverse("access:grant_revoke", args=[granted[0].pk])

    empty = client.post(url, {"reason": ""}, follow=True)
    status_after_refusal = AccessGrant.objects.get(pk=granted[0].pk).status
    done = client.post(url, {"reason": "목적 외 이용"}, follow=True)

    assert (_messages(empty), status_after_refusal) == (["중지 사유: 필수 항목입니다."], "active")
    assert _messages(done)[0].endswith("이용을 중지했습니다.")
    assert AccessGrant.objects.get(pk=granted[0].pk).revoke_reason == "목적 외 이용"


def test_operator_page_of_an_unsigned_agreement_offers_no_issue(
    agreement: Agreement, operator: User, client: Client, login: Login
) -> None:
    Agreement.objects.filter(pk=agreement.pk).update(status=Agreement.Status.AWAITING_SIGNATURES)
    login(client, operator)

    page = client.get(reverse("access:agreement_grants", args=[agreement.pk]))
    refused = client.post(reverse("access:grants_issue", args=[agreement.pk]), follow=True)

    assert page.context["overview"].in_force is False
    assert reverse("access:grants_issue", args=[agreement.pk]) not in page.content.decode()
    assert _messages(refused) == [
        "양측 서명이 끝나 효력 중인 협약에만 데이터 이용 권한을 부여할 수 있습니다."
    ]
    assert AccessGrant.objects.count() == 0


def test_company_asks_for_extra_viewing_through_the_form(
    agreement: Agreement, applicant: User, client: Client, login: Login
) -> None:
    extra = DatasetFactory(title="대장 CT 영상", sensitivity=Sensitivity.LOW)
    agreed = agreement.versions.get().datasets.order_by("pk").first().dataset  # type: ignore[union-attr]
    login(client, applicant)

    page = client.get(reverse("access:viewing_request_list"))
    options = client.get(reverse("access:viewing_dataset_options"), {"agreement": agreement.pk, "q": "대장"})
    in_terms = client.post(
        reverse("access:viewing_request_new"),
        {"agreement": agreement.pk, "dataset": agreed.pk, "reason": "비교"},
    )
    created = client.post(
        reverse("access:viewing_request_new"),
        {"agreement": agreement.pk, "dataset": extra.pk, "reason": "비교"},
    )

    assert list(page.context["form"].fields["dataset"].queryset) == [extra]
    assert options.content.decode().strip().startswith(f'<option value="{extra.pk}">대장 CT 영상')
    assert in_terms.status_code == 400
    assert in_terms.context["form"].errors == {
        "dataset": ["협약에 포함된 데이터입니다. 데이터 이용 권한에서 이용하세요."]
    }
    viewing_request = ViewingRequest.objects.get()
    assert created["Location"] == reverse("access:viewing_request_detail", args=[viewing_request.pk])
    assert (viewing_request.dataset, viewing_request.status) == (extra, "pending")


def test_api_lists_grants_with_usable_computed_now_and_refuses_closed_room_data_remotely(
    granted: list[AccessGrant], applicant: User, client: Client, login: Login
) -> None:
    login(client, applicant)

    listed = client.get("/api/v1/access/grants").json()
    closed_room = client.post(f"/api/v1/access/grants/{granted[0].pk}/check").json()
    with time_machine.travel(kst(2025, 11, 29), tick=False):
        login(client, applicant)
        after = client.get(f"/api/v1/access/grants/{granted[0].pk}").json()
        refused = client.post(f"/api/v1/access/grants/{granted[0].pk}/check").json()

    assert [(g["id"], g["mode"], g["status"], g["usable"]) for g in listed] == [
        (granted[0].pk, "closed_room", "active", True),
        (granted[1].pk, "online", "active", True),
    ]
    assert (listed[0]["starts_at"], listed[0]["ends_at"]) == (
        "2025-09-15T10:00:00+09:00",
        "2025-11-29T00:00:00+09:00",
    )
    assert closed_room == {
        "allowed": False,
        "code": "closed_room_only",
        "message": "이 데이터는 폐쇄형 학습실에서만 이용할 수 있습니다. 원격으로는 열 수 없습니다.",
        "mode": "closed_room",
    }
    assert after["usable"] is False
    assert refused == {
        "allowed": False,
        "code": "grant_expired",
        "message": "이용 기간이 끝났습니다 (마지막 날: 2025-11-28 23:59:59 KST).",
        "mode": "closed_room",
    }


def _checked_events() -> list[dict[str, object]]:
    return [
        {"actor": e.actor_id, "object_id": e.object_id, **e.data}
        for e in AuditEvent.objects.filter(action="access.grant_checked").order_by("sequence")
    ]


def test_api_allows_online_data_remotely_only_while_the_caller_has_a_session_open(
    granted: list[AccessGrant], applicant: User, device: TOTPDevice, client: Client, login: Login
) -> None:
    online = granted[1]
    login(client, applicant)
    url = f"/api/v1/access/grants/{online.pk}/check"

    before = client.post(url).json()
    session = online_session_start(grant=online, user=applicant, otp_code=code(device))
    during = client.post(url).json()
    online_session_end(session=session, actor=applicant)
    after = client.post(url).json()

    required = {
        "allowed": False,
        "code": "online_session_required",
        "message": "열려 있는 온라인 이용 세션이 없습니다. 데이터 이용 권한 페이지에서 "
        "OTP 인증 코드로 온라인 이용 세션을 먼저 시작하세요.",
        "mode": "online",
    }
    assert (before, during, after) == (
        required,
        {"allowed": True, "code": None, "message": None, "mode": "online"},
        required,
    )
    answer = {"actor": applicant.pk, "object_id": str(online.pk), "grant": online.pk}
    answer |= {"dataset": online.dataset_id, "mode": "online", "caller": "applicant"}
    assert _checked_events() == [
        {**answer, "allowed": False, "code": "online_session_required"},
        {**answer, "allowed": True, "code": None},
        {**answer, "allowed": False, "code": "online_session_required"},
    ]


def test_api_refuses_an_open_session_once_the_terms_no_longer_allow_online_use(
    granted: list[AccessGrant], applicant: User, device: TOTPDevice, client: Client, login: Login
) -> None:
    online = granted[1]
    online_session_start(grant=online, user=applicant, otp_code=code(device))
    AgreementVersion.objects.filter(agreement=online.agreement_id).update(allows_online=False)

    answer = login(client, applicant).post(f"/api/v1/access/grants/{online.pk}/check").json()

    assert (answer["allowed"], answer["code"], answer["mode"]) == (False, "online_not_agreed", "online")
    assert OnlineSession.objects.get().ended_at is None  # the reconciler, not the check, ends it


def test_api_check_for_an_operator_says_not_a_member_and_records_it(
    granted: list[AccessGrant], operator: User, client: Client, login: Login
) -> None:
    login(client, operator)

    answer = client.post(f"/api/v1/access/grants/{granted[1].pk}/check").json()

    assert (answer["allowed"], answer["code"], answer["mode"]) == (False, "not_member", "online")
    assert _checked_events() == [
        {
            "actor": operator.pk,
            "object_id": str(granted[1].pk),
            "allowed": False,
            "code": "not_member",
            "grant": granted[1].pk,
            "dataset": granted[1].dataset_id,
            "mode": "online",
            "caller": "operator",
        }
    ]
