"""The deadline "2025-07-21 (Mon) 16:00" KST, enforced by the server for every company-side change.

15:59:59 KST is accepted; 16:00:00 KST is refused: the window is [opens_at, closes_at).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.models import Application, ApplicationDocument, Call, RequiredDocument
from medbroker.calls.services.applications import (
    application_create,
    application_document_attach,
    application_resubmit,
    application_return,
    application_submit,
    application_update,
    application_withdraw,
)
from medbroker.calls.tests.factories import call_2025
from medbroker.calls.tests.factories_applications import (
    application_draft,
    application_ready,
    sample_pdf,
    upload,
)
from medbroker.core.errors import DomainError
from medbroker.core.timeutils import kst

LAST_SECOND = kst(2025, 7, 21, 15, 59, 59)
DEADLINE = kst(2025, 7, 21, 16, 0, 0)
CLOSED_MESSAGE = (
    "접수가 마감되었습니다 (2025-07-21 16:00:00 KST). 마감 이후에는 신청서 작성·수정, 파일 업로드, 제출, "
    "보완 제출, 철회를 할 수 없습니다."
)


@pytest.fixture
def call(db: None) -> Call:
    return call_2025()


def _prepared(call: Call, applicant: User) -> Application:
    with time_machine.travel(kst(2025, 7, 14, 10, 0, 0), tick=False):
        return application_ready(call=call, applicant=applicant)


def _snapshot(application: Application) -> tuple[Any, ...]:
    application.refresh_from_db()
    return (
        application.status,
        application.receipt_number,
        application.project_title,
        application.updated_at,
        application.status_changes.count(),
        sorted(ApplicationDocument.objects.filter(application=application).values_list("sha256", flat=True)),
    )


def _submit(application: Application, applicant: User) -> Any:
    return application_submit(application=application, actor=applicant)


def _edit(application: Application, applicant: User) -> Any:
    return application_update(
        application=application, actor=applicant, fields={"project_title": "마감 직전 수정"}
    )


def _upload(application: Application, applicant: User) -> Any:
    return application_document_attach(
        application=application,
        requirement=RequiredDocument.objects.get(call=application.call, code="application_plan"),
        upload=upload("계획서-최종.pdf", sample_pdf("final")),
        actor=applicant,
    )


def _withdraw(application: Application, applicant: User) -> Any:
    return application_withdraw(application=application, actor=applicant, confirmed=True)


ACTIONS: dict[str, Callable[[Application, User], Any]] = {
    "submit": _submit,
    "edit": _edit,
    "upload": _upload,
    "withdraw": _withdraw,
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_accepted_at_15_59_59_kst(call: Call, applicant: User, action: str) -> None:
    application = _prepared(call, applicant)

    with time_machine.travel(LAST_SECOND, tick=False):
        ACTIONS[action](application, applicant)

    application.refresh_from_db()
    expected = {"submit": "submitted", "edit": "draft", "upload": "draft", "withdraw": "withdrawn"}[action]
    assert application.status == expected


@pytest.mark.parametrize("action", list(ACTIONS))
def test_refused_from_16_00_00_kst(call: Call, applicant: User, action: str) -> None:
    application = _prepared(call, applicant)
    before = _snapshot(application)

    with time_machine.travel(DEADLINE, tick=False), pytest.raises(DomainError) as refused:
        ACTIONS[action](application, applicant)

    assert (refused.value.code, refused.value.status_code, str(refused.value.message)) == (
        "intake_closed",
        409,
        CLOSED_MESSAGE,
    )
    assert _snapshot(application) == before


def test_the_deadline_is_korea_time_not_utc(call: Call, applicant: User) -> None:
    # 16:00 KST is 07:00 UTC: a server clock read as UTC would still accept until 16:00 UTC.
    application = _prepared(call, applicant)

    seven_utc = dt.datetime(2025, 7, 21, 7, 0, 0, tzinfo=dt.UTC)
    with time_machine.travel(seven_utc, tick=False), pytest.raises(DomainError) as refused:
        _submit(application, applicant)

    assert refused.value.code == "intake_closed"


def test_a_wrong_file_after_the_deadline_is_told_the_deadline(call: Call, applicant: User) -> None:
    application = _prepared(call, applicant)

    with time_machine.travel(DEADLINE, tick=False), pytest.raises(DomainError) as refused:
        application_document_attach(
            application=application,
            requirement=RequiredDocument.objects.get(call=call, code="application_plan"),
            upload=upload("늦은.exe", b"MZ"),
            actor=applicant,
        )

    assert refused.value.code == "intake_closed"


def test_resubmission_after_the_deadline_is_refused(call: Call, applicant: User, operator: User) -> None:
    application = _prepared(call, applicant)
    with time_machine.travel(kst(2025, 7, 20, 10, 0, 0), tick=False):
        application_submit(application=application, actor=applicant)
        application_return(application=application, actor=operator, reason="서명 누락")
    before = _snapshot(application)

    with time_machine.travel(DEADLINE, tick=False), pytest.raises(DomainError) as refused:
        application_resubmit(application=application, actor=applicant)

    assert refused.value.code == "intake_closed"
    assert _snapshot(application) == before


def test_an_operator_cannot_return_after_the_deadline(call: Call, applicant: User, operator: User) -> None:
    application = _prepared(call, applicant)
    with time_machine.travel(LAST_SECOND, tick=False):
        application_submit(application=application, actor=applicant)
    before = _snapshot(application)

    with time_machine.travel(DEADLINE, tick=False), pytest.raises(DomainError) as refused:
        application_return(application=application, actor=operator, reason="서명 누락")

    assert (refused.value.code, str(refused.value.message)) == (
        "intake_closed",
        "접수가 마감되어 보완 요청을 할 수 없습니다 (2025-07-21 16:00:00 KST). 기업이 더 이상 보완할 수 없기 때문입니다.",
    )
    assert _snapshot(application) == before


def test_nothing_can_start_before_intake_opens(call: Call, applicant: User) -> None:
    with time_machine.travel(kst(2025, 7, 6, 23, 59, 59), tick=False), pytest.raises(DomainError) as refused:
        application_create(call=call, company=applicant.organisation, actor=applicant)

    assert (refused.value.code, str(refused.value.message)) == (
        "intake_not_open",
        "아직 접수 기간이 아닙니다. 접수는 2025-07-07 00:00:00 KST에 시작합니다.",
    )
    assert Application.objects.count() == 0
    with time_machine.travel(kst(2025, 7, 7, 0, 0, 0), tick=False):
        assert application_draft(call=call, applicant=applicant).status == "draft"


# ---------------------------------------------------------------------------------------------------------
# The same boundary through the pages
# ---------------------------------------------------------------------------------------------------------


def _edit_post(application: Application) -> dict[str, Any]:
    """The edit page's form as a browser sends it, with a new title."""
    data: dict[str, Any] = {
        "plan-project_title": "페이지에서 수정",
        "plan-summary": "요약",
        "eligibility-declared_daegu_company": "on",
        "compute-compute_option": str(application.compute_option_id),
        "compute-compute_intended_use": "학습",
    }
    for prefix in ("datasets", "projects", "certifications", "ip"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


@pytest.mark.parametrize(("moment", "accepted"), [(LAST_SECOND, True), (DEADLINE, False)])
def test_edit_page_boundary(
    call: Call,
    applicant: User,
    login: Callable[..., Client],
    client: Client,
    moment: dt.datetime,
    accepted: bool,
) -> None:
    application = _prepared(call, applicant)
    url = reverse("calls:application_edit", args=[application.pk])

    with time_machine.travel(moment, tick=False):
        login(client, applicant)
        response = client.post(url, _edit_post(application))

    application.refresh_from_db()
    if accepted:
        assert response.status_code == 302
        assert application.project_title == "페이지에서 수정"
    else:
        assert response.status_code == 400
        assert CLOSED_MESSAGE in response.content.decode()
        # The page keeps what was typed, so nothing is lost even though it was not saved.
        assert 'value="페이지에서 수정"' in response.content.decode()
        assert application.project_title == "위 내시경 병변 검출 AI"


@pytest.mark.parametrize(("moment", "accepted"), [(LAST_SECOND, True), (DEADLINE, False)])
def test_upload_page_boundary(
    call: Call,
    applicant: User,
    login: Callable[..., Client],
    client: Client,
    moment: dt.datetime,
    accepted: bool,
) -> None:
    application = _prepared(call, applicant)
    url = reverse("calls:application_document_upload", args=[application.pk, "privacy_consent"])
    before = ApplicationDocument.objects.get(
        application=application, requirement__code="privacy_consent"
    ).sha256

    with time_machine.travel(moment, tick=False):
        login(client, applicant)
        response = client.post(url, {"file": upload("동의서-v2.pdf", sample_pdf("v2"))})

    after = ApplicationDocument.objects.get(application=application, requirement__code="privacy_consent")
    if accepted:
        assert response.status_code == 302
        assert after.original_name == "동의서-v2.pdf"
    else:
        assert response.status_code == 400
        assert CLOSED_MESSAGE in response.content.decode()
        assert after.sha256 == before


@pytest.mark.parametrize(("moment", "accepted"), [(LAST_SECOND, True), (DEADLINE, False)])
def test_submit_page_boundary(
    call: Call,
    applicant: User,
    login: Callable[..., Client],
    client: Client,
    moment: dt.datetime,
    accepted: bool,
) -> None:
    application = _prepared(call, applicant)

    with time_machine.travel(moment, tick=False):
        login(client, applicant)
        response = client.post(reverse("calls:application_submit", args=[application.pk]), follow=True)

    application.refresh_from_db()
    if accepted:
        assert application.status == "submitted"
        assert response.redirect_chain[-1][0] == reverse("calls:application_receipt", args=[application.pk])
    else:
        assert application.status == "draft"
        assert CLOSED_MESSAGE in response.content.decode()
