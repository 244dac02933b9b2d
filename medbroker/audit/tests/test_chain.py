from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from medbroker.audit.models import AuditEvent
from medbroker.audit.services import GENESIS_HASH, audit_chain_verify, audit_record
from medbroker.core.errors import DomainError

pytestmark = pytest.mark.django_db


def _three_events(actor):
    return [
        audit_record(action="test.created", actor=actor, object_type="x", object_id=i, summary=f"event {i}")
        for i in (1, 2, 3)
    ]


def test_events_are_chained_from_the_genesis_hash(operator):
    first, second, third = _three_events(operator)

    assert (first.sequence, second.sequence, third.sequence) == (1, 2, 3)
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.entry_hash
    assert third.previous_hash == second.entry_hash
    assert first.actor_label == f"operator ({operator})"
    assert audit_chain_verify() is None


def test_an_entry_cannot_be_changed_or_deleted_through_the_orm(operator):
    event = _three_events(operator)[0]
    event.summary = "changed"

    with pytest.raises(DomainError):
        event.save()
    with pytest.raises(DomainError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "event 1"


def test_verify_command_exits_zero_on_an_intact_chain(operator, capsys):
    _three_events(operator)

    call_command("audit", "verify")

    assert "audit chain intact: 3 entries" in capsys.readouterr().out


def test_verify_names_the_first_changed_entry(operator):
    _three_events(operator)
    AuditEvent.objects.filter(sequence=2).update(summary="tampered")

    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify")

    assert excinfo.value.returncode == 1
    assert (
        str(excinfo.value)
        == "audit chain broken at entry #2: content does not match its hash (entry was changed)"
    )


def test_verify_names_a_removed_entry(operator):
    _three_events(operator)
    AuditEvent.objects.filter(
        sequence=2
    ).delete()  # queryset delete bypasses the model guard, as raw SQL would

    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify")

    assert str(excinfo.value) == "audit chain broken at entry #2: entry #2 is missing"


def test_verify_detects_a_rewritten_entry_whose_hash_was_recomputed(operator):
    from medbroker.audit.services import entry_hash_compute

    _three_events(operator)
    event = AuditEvent.objects.get(sequence=2)
    event.summary = "forged"
    AuditEvent.objects.filter(pk=event.pk).update(summary="forged", entry_hash=entry_hash_compute(event))

    problem = audit_chain_verify()

    assert problem is not None
    assert problem.sequence == 3
    assert problem.reason == "previous hash does not match the entry before it"


def test_expect_head_catches_removal_of_the_newest_entry(operator):
    events = _three_events(operator)
    head = f"{events[-1].sequence}:{events[-1].entry_hash}"
    AuditEvent.objects.filter(sequence=3).delete()

    call_command("audit", "verify")  # the shorter chain is still consistent on its own
    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify", "--expect-head", head)

    assert str(excinfo.value) == "audit chain broken at entry #3: the expected head is missing"
