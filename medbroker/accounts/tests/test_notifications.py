"""Sending notices: the in-app row at once, the e-mail only after the change commits, each keyed notice once."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from medbroker.accounts.models import Notification, Role
from medbroker.accounts.services.notifications import (
    notification_mark_read,
    notification_send,
    operator_recipients,
    organisation_recipients,
)
from medbroker.accounts.tests.factories import UserFactory
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

SENT_AT = kst(2025, 7, 1, 9, 30)


class UnreachableMailServerBackend(BaseEmailBackend):
    """What Django's SMTP backend raises when the mail server is down."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError(111, "Connection refused")


def _send(users, **overrides):
    fields = {
        "users": users,
        "kind": "agreement_to_sign",
        "title": "협약서 서명 요청",
        "body": "2025 의료AI 지원사업 협약서에 서명해 주세요.",
        "link": "/agreements/3/",
    }
    return notification_send(**{**fields, **overrides})


def test_a_notice_is_stored_at_once_and_mailed_after_the_commit(
    applicant, settings, django_capture_on_commit_callbacks
):
    settings.MEDBROKER_SITE_URL = "https://medbroker.ktl.re.kr/"
    applicant.email = "kim@daegumedi.example"
    applicant.save(update_fields=["email"])

    with (
        time_machine.travel(SENT_AT, tick=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        created = _send([applicant])
        mailed_before_commit = len(mail.outbox)

    notice = Notification.objects.get()
    assert created == [notice]
    assert (notice.user, notice.kind, notice.title, notice.link) == (
        applicant,
        "agreement_to_sign",
        "협약서 서명 요청",
        "/agreements/3/",
    )
    assert notice.body == "2025 의료AI 지원사업 협약서에 서명해 주세요."
    assert notice.read_at is None
    assert notice.created_at == SENT_AT
    assert notice.emailed_at == SENT_AT
    assert mailed_before_commit == 0
    assert len(callbacks) == 1
    [message] = mail.outbox
    assert message.to == ["kim@daegumedi.example"]
    assert message.subject == "[medbroker] 협약서 서명 요청"
    assert message.body == (
        "2025 의료AI 지원사업 협약서에 서명해 주세요.\n\nhttps://medbroker.ktl.re.kr/agreements/3/"
    )
    assert message.from_email == settings.DEFAULT_FROM_EMAIL


def test_no_mail_goes_out_until_the_change_commits(applicant, django_capture_on_commit_callbacks):
    applicant.email = "kim@daegumedi.example"
    applicant.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _send([applicant])

    assert len(callbacks) == 1
    assert mail.outbox == []
    assert Notification.objects.get().emailed_at is None


def test_a_notice_without_a_link_is_mailed_without_one(applicant, django_capture_on_commit_callbacks):
    applicant.email = "kim@daegumedi.example"
    applicant.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        _send([applicant], link="", body="결과보고서 제출 기한은 2025-12-05입니다.")

    assert mail.outbox[0].body == "결과보고서 제출 기한은 2025-12-05입니다."


def test_the_same_dedupe_key_never_notifies_a_user_twice(applicant, django_capture_on_commit_callbacks):
    applicant.email = "kim@daegumedi.example"
    applicant.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        first = _send([applicant], kind="grant_expiring", dedupe_key="grant:7:expiring")
    with django_capture_on_commit_callbacks(execute=True) as second_callbacks:
        second = _send([applicant], kind="grant_expiring", dedupe_key="grant:7:expiring")

    assert len(first) == 1
    assert second == []
    assert second_callbacks == []
    assert Notification.objects.filter(user=applicant, dedupe_key="grant:7:expiring").count() == 1
    assert len(mail.outbox) == 1


def test_a_dedupe_key_is_per_user(applicant, other_applicant):
    _send([applicant], dedupe_key="report:2025:due")

    created = _send([applicant, other_applicant], dedupe_key="report:2025:due")

    assert [n.user for n in created] == [other_applicant]
    assert Notification.objects.filter(dedupe_key="report:2025:due").count() == 2


def test_notices_without_a_key_are_not_deduplicated(applicant):
    _send([applicant])
    _send([applicant])

    assert Notification.objects.filter(user=applicant).count() == 2


def test_a_user_without_an_email_address_gets_only_the_in_app_notice(
    applicant, django_capture_on_commit_callbacks
):
    applicant.email = ""
    applicant.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        _send([applicant])

    assert mail.outbox == []
    notice = Notification.objects.get()
    assert notice.user == applicant
    assert notice.emailed_at is None


def test_a_mail_server_that_is_down_leaves_the_notice_unmailed(
    applicant, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{__name__}.UnreachableMailServerBackend"
    applicant.email = "kim@daegumedi.example"
    applicant.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        created = _send([applicant])

    notice = Notification.objects.get()
    assert created == [notice]
    assert notice.title == "협약서 서명 요청"
    assert notice.emailed_at is None


def test_a_company_notice_goes_to_its_active_applicants_only(company, applicant, other_applicant, operator):
    colleague = UserFactory(username="colleague", organisation=company, roles=[Role.APPLICANT])
    UserFactory(username="left", organisation=company, roles=[Role.APPLICANT], is_active=False)
    UserFactory(username="viewer", organisation=company, roles=[])

    recipients = sorted(organisation_recipients(company).values_list("username", flat=True))

    assert recipients == sorted([applicant.username, colleague.username])


def test_operator_notices_go_to_active_operators(operator, auditor, applicant):
    UserFactory(username="retired_operator", roles=[Role.OPERATOR], is_active=False)

    assert list(operator_recipients().values_list("username", flat=True)) == ["operator"]


def test_marking_read_touches_only_the_users_own_unread_notices(applicant, other_applicant):
    mine = _send([applicant]) + _send([applicant], title="두 번째")
    theirs = _send([other_applicant])

    with time_machine.travel(SENT_AT, tick=False):
        one = notification_mark_read(user=applicant, notification_ids=[mine[0].pk, theirs[0].pk])
        rest = notification_mark_read(user=applicant)
        again = notification_mark_read(user=applicant)

    assert (one, rest, again) == (1, 1, 0)
    assert set(Notification.objects.filter(user=applicant).values_list("read_at", flat=True)) == {SENT_AT}
    assert Notification.objects.get(pk=theirs[0].pk).read_at is None


def test_a_retried_mail_task_does_not_send_the_notice_twice(applicant, django_capture_on_commit_callbacks):
    from medbroker.accounts.tasks import notification_email_send

    with django_capture_on_commit_callbacks(execute=True):
        [notice] = _send([applicant])

    assert notification_email_send(notice.pk) is False
    assert len(mail.outbox) == 1
