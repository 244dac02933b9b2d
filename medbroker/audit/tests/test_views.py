from __future__ import annotations

import pytest
from django.urls import reverse

from medbroker.audit.models import AuditEvent
from medbroker.audit.services import audit_chain_verify, audit_record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 302),
        ("applicant", 403),
        ("other_applicant", 403),
        ("reviewer", 403),
        ("steward", 403),
        ("operator", 200),
        ("auditor", 200),
    ],
)
def test_audit_log_page_permissions(role, status, client, login, users_by_role):
    login(client, users_by_role[role])

    response = client.get(reverse("audit:event_list"))

    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/accounts/login/")


def test_the_page_lists_events_and_verifies_the_chain_on_demand(client, login, auditor):
    audit_record(action="test.thing_done", actor=auditor, object_type="x", object_id=7, summary="did it")
    login(client, auditor)

    listing = client.get(reverse("audit:event_list")).content.decode()
    verified = client.get(reverse("audit:event_list") + "?verify=1").content.decode()

    assert "test.thing_done" in listing
    assert "did it" in listing
    assert "해시 체인 검증 결과: 이상 없음" not in listing
    assert "해시 체인 검증 결과: 이상 없음" in verified


def test_the_page_names_a_broken_entry(client, login, auditor):
    for n in (1, 2):
        audit_record(action="test.thing_done", actor=auditor, summary=f"event {n}")
    AuditEvent.objects.filter(sequence=1).update(summary="tampered")
    login(client, auditor)

    page = client.get(reverse("audit:event_list") + "?verify=1").content.decode()

    assert "해시 체인 손상: #1" in page


def test_an_auditor_cannot_post_to_the_log(client, login, auditor):
    login(client, auditor)
    before = AuditEvent.objects.count()

    response = client.post(reverse("audit:event_list"), {"action": "forged"})

    assert response.status_code == 405
    assert AuditEvent.objects.count() == before


def test_deleting_a_user_keeps_the_chain_intact(operator):
    from medbroker.accounts.tests.factories import UserFactory

    leaving = UserFactory(username="leaving")
    audit_record(action="test.thing_done", actor=leaving, summary="by a user who later leaves")
    audit_record(action="test.thing_done", actor=operator, summary="after")

    leaving_id = leaving.pk
    leaving.delete()

    event = AuditEvent.objects.get(sequence=1)
    assert event.actor_id == leaving_id
    assert event.actor_label.startswith("leaving (")
    assert audit_chain_verify() is None
