"""The agreement pages as people use them: draft from the queue, sign on the page, amend, read only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import Organisation, User
from medbroker.accounts.tests.factories import UserFactory
from medbroker.agreements.models import (
    Agreement,
    AgreementSignature,
    AgreementVersion,
    PerformanceTestRequest,
)
from medbroker.agreements.tests.factories import DURING_SUPPORT, active_agreement, selected_decision
from medbroker.agreements.tests.scene import (
    DRAFTED_AT,
    docx_copy,
    drafted_agreement,
    signed_copy,
    totp_code,
    totp_device,
)
from medbroker.audit.models import AuditEvent
from medbroker.calls.tests.factories import call_with_window
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(DRAFTED_AT, tick=False) as traveller:
        yield traveller


def _text(response: Any) -> str:
    return response.content.decode()


def test_the_operator_drafts_from_the_queue_with_online_use(
    operator: User, company: Organisation, login: Login, clock: Any, fast_pdf: None
) -> None:
    decision = selected_decision(company=company, operator=operator)
    client = login(Client(), operator)
    row = f"<td>{decision.application.receipt_number}</td>"
    assert row in _text(client.get(reverse("agreements:decision_queue")))

    response = client.post(
        reverse("agreements:agreement_create", args=[decision.pk]), {"allows_online": "on"}
    )

    agreement = Agreement.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("agreements:agreement_detail", args=[agreement.pk])
    assert agreement.versions.get().allows_online is True
    assert row not in _text(client.get(reverse("agreements:decision_queue")))
    again = client.post(reverse("agreements:agreement_create", args=[decision.pk]))
    assert again.status_code == 409
    assert "이 선정 결과의 협약이 이미 있습니다." in _text(again)


def test_the_company_signs_on_the_page_with_its_otp_code(
    operator: User, applicant: User, company: Organisation, login: Login, clock: Any, fast_pdf: None
) -> None:
    agreement = drafted_agreement(operator=operator, company=company)
    version = agreement.versions.get()
    device = totp_device(applicant)
    client = login(Client(), applicant)
    page = _text(client.get(reverse("agreements:agreement_detail", args=[agreement.pk])))
    assert "서명일 ~ <strong>2025-11-28 23:59:59 (KST)</strong>" in page
    assert reverse("agreements:agreement_sign", args=[version.pk]) in page

    wrong = client.post(
        reverse("agreements:agreement_sign", args=[version.pk]), {"method": "otp", "otp_code": "000000"}
    )
    assert wrong.status_code == 400
    assert "인증 코드가 올바르지 않습니다." in _text(wrong)
    assert AgreementSignature.objects.count() == 0

    clock.shift(60)
    response = client.post(
        reverse("agreements:agreement_sign", args=[version.pk]),
        {"method": "otp", "otp_code": totp_code(device)},
    )

    assert response.status_code == 302
    signature = AgreementSignature.objects.get()
    assert (signature.side, signature.method, signature.signer) == ("company", "otp", applicant)
    page = _text(client.get(reverse("agreements:agreement_detail", args=[agreement.pk])))
    assert "이 협약서에 서명했습니다. 상대편의 서명을 기다립니다." in page


def test_a_signed_copy_that_is_not_a_pdf_is_refused_on_the_page(
    operator: User, company: Organisation, login: Login, clock: Any, fast_pdf: None
) -> None:
    agreement = drafted_agreement(operator=operator, company=company)
    version = agreement.versions.get()

    response = login(Client(), operator).post(
        reverse("agreements:agreement_sign", args=[version.pk]), {"method": "upload", "upload": docx_copy()}
    )

    assert response.status_code == 400
    assert "&#x27;협약서_서명본.docx&#x27; 파일은 PDF가 아닙니다." in _text(response)
    assert AgreementSignature.objects.count() == 0


def test_the_operator_amends_through_the_form(
    operator: User, applicant: User, company: Organisation, login: Login, fast_pdf: None
) -> None:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
        first = agreement.versions.get().datasets.order_by("pk").first()
        assert first is not None
        client = login(Client(), operator)
        url = reverse("agreements:agreement_amend", args=[agreement.pk])
        data = {
            "datasets-TOTAL_FORMS": "2",
            "datasets-INITIAL_FORMS": "0",
            "datasets-0-dataset": str(first.dataset_id),
            "datasets-0-amount": "400",
            "datasets-0-needs_annotated": "on",
            "datasets-1-dataset": "",
            "datasets-1-amount": "",
            "compute_option": "",
            "allows_online": "",
        }

        missing_reason = client.post(url, data)
        assert missing_reason.status_code == 400
        assert AgreementVersion.objects.filter(agreement=agreement).count() == 1

        response = client.post(url, {**data, "reason": "GPU 반납, 데이터 축소"})

    assert response.status_code == 302
    v2 = AgreementVersion.objects.get(agreement=agreement, number=2)
    assert (v2.status, v2.compute_option, v2.reason) == ("pending", None, "GPU 반납, 데이터 축소")
    assert list(v2.datasets.values_list("dataset_id", "amount", "needs_annotated")) == [
        (first.dataset_id, 400, True)
    ]


def test_auditors_read_everything_without_forms(
    operator: User, auditor: User, company: Organisation, login: Login, fast_pdf: None
) -> None:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
        page = _text(
            login(Client(), auditor).get(reverse("agreements:agreement_detail", args=[agreement.pk]))
        )

    assert agreement.number in page
    assert 'method="post"' not in page.split("</header>", 1)[1]


def test_the_list_filters_by_status_and_call(
    operator: User, company: Organisation, login: Login, fast_pdf: None
) -> None:
    with time_machine.travel(DRAFTED_AT, tick=False):
        active = active_agreement(decision=selected_decision(company=company, operator=operator))
        practice = call_with_window(opens_at=kst(2025, 6, 2, 9, 0, 0), closes_at=kst(2025, 6, 16, 16, 0, 0))
        drafted = drafted_agreement(operator=operator, call=practice)
    client = login(Client(), operator)
    url = reverse("agreements:agreement_list")

    by_status = _text(client.get(url, {"status": "awaiting_signatures"}))
    by_call = _text(client.get(url, {"call": active.call.slug}))
    everything = _text(client.get(url, {"sort": "-number"}))

    assert (drafted.number in by_status, active.number in by_status) == (True, False)
    assert (drafted.number in by_call, active.number in by_call) == (False, True)
    assert everything.index(drafted.number) < everything.index(active.number)


def test_no_test_request_form_outside_the_period(
    operator: User, applicant: User, company: Organisation, login: Login
) -> None:
    with time_machine.travel(kst(2025, 11, 29, 0, 0, 0), tick=False):
        agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
        client = login(Client(), applicant)
        page = _text(client.get(reverse("agreements:test_request_new", args=[agreement.pk])))
        refused = client.post(
            reverse("agreements:test_request_new", args=[agreement.pk]),
            {"algorithm_name": "GastroFinder", "task_description": "병변 검출"},
        )

    assert "협약 기간 중에만 성능시험을 요청할 수 있습니다." in page
    assert 'name="algorithm_name"' not in page
    assert refused.status_code == 409
    assert PerformanceTestRequest.objects.count() == 0


def test_the_operator_decides_a_test_request_on_its_page(
    operator: User, applicant: User, company: Organisation, login: Login
) -> None:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
        test_request = PerformanceTestRequest.objects.create(
            agreement=agreement,
            requested_by=applicant,
            algorithm_name="GastroFinder",
            task_description="병변 검출",
        )
        client = login(Client(), operator)
        url = reverse("agreements:test_request_decide", args=[test_request.pk])

        no_reason = client.post(url, {"status": "rejected", "comment": ""})
        response = client.post(url, {"status": "accepted", "comment": "10월 14일 시험"})

    assert no_reason.status_code == 400
    assert "반려 사유를 입력해 주세요." in _text(no_reason)
    assert response.status_code == 302
    test_request.refresh_from_db()
    assert (test_request.status, test_request.operator_comment) == ("accepted", "10월 14일 시험")


def test_signed_copies_upload_through_the_page(
    operator: User, company: Organisation, login: Login, clock: Any, fast_pdf: None
) -> None:
    agreement = drafted_agreement(operator=operator, company=company)
    version = agreement.versions.get()
    client = login(Client(), operator)

    response = client.post(
        reverse("agreements:agreement_sign", args=[version.pk]), {"method": "upload", "upload": signed_copy()}
    )

    assert response.status_code == 302
    signature = AgreementSignature.objects.get()
    download = client.get(reverse("agreements:signature_file", args=[signature.pk]))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    assert b"".join(download.streaming_content).startswith(b"%PDF-")  # type: ignore[attr-defined]
    # Staff reading a company's signed copy is recorded (here the lab's own upload, read by the lab)
    assert list(
        AuditEvent.objects.filter(action="agreements.signature_file_downloaded").values_list(
            "actor_id", "data__signature_id"
        )
    ) == [(operator.pk, signature.pk)]


def test_the_admin_shows_agreements_read_only(operator: User, company: Organisation, login: Login) -> None:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = login(Client(), admin)

    listing = client.get(reverse("admin:agreements_agreement_changelist"))
    detail = client.get(reverse("admin:agreements_agreement_change", args=[agreement.pk]))
    version = client.get(
        reverse("admin:agreements_agreementversion_change", args=[agreement.versions.get().pk])
    )

    assert (listing.status_code, detail.status_code, version.status_code) == (200, 200, 200)
    assert agreement.number in _text(listing)
    assert client.get(reverse("admin:agreements_agreement_add")).status_code == 403
