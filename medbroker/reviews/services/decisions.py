"""The selection decision and its support scale, and the publication of the results.

The operator decides once the committee has closed, so the scores a decision freezes can no longer move.
Each decision stores a snapshot of the numbers behind it (review score, verified bonus, final score, rank,
and the per-item breakdown the company will read); a company sees its result only after publication.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.audit.services import audit_record
from medbroker.calls.models import Application, ComputeOption
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.reviews.models import Committee, Decision
from medbroker.reviews.selectors.ranking import item_breakdown, ranking_for_committee
from medbroker.reviews.services.evidence import bonus_for_application
from medbroker.reviews.services.ranking import RankedRow

Outcome = Decision.Outcome


def _closed_committee(application: Application) -> Committee:
    committee = Committee.objects.filter(call_id=application.call_id).first()
    if committee is None:
        raise DomainError("no_committee", _("이 공모의 평가위원회가 없습니다."), status_code=404)
    if committee.status != Committee.Status.CLOSED:
        raise DomainError(
            "committee_open",
            _("평가가 종료된 뒤에 선정 결과를 정할 수 있습니다. 먼저 평가위원회를 종료하세요."),
            status_code=409,
        )
    return committee


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def score_breakdown_snapshot(application: Application, row: RankedRow) -> dict[str, Any]:
    """What the company reads: the per-item means (never a reviewer's own sheet) and the verified bonus."""
    bonus = bonus_for_application(application, verified_only=True)
    return {
        "review_score": _decimal_text(row.review_score),
        "bonus_score": _decimal_text(row.bonus_score),
        "final_score": _decimal_text(row.final_score),
        "reviewers": row.aggregate.n,
        "trimmed": row.aggregate.is_trimmed,
        "items": [
            {
                "code": item.code,
                "area": item.area,
                "indicator": item.indicator,
                "max_points": item.max_points,
                "mean": _decimal_text(item.mean),
            }
            for item in item_breakdown(application)
        ],
        "bonus": {
            "items": [
                {
                    "key": item.key,
                    "label": item.label,
                    "points": _decimal_text(item.points),
                    "reason": item.reason,
                    "not_counted": [{"evidence": n.evidence, "reason": n.reason} for n in item.not_counted],
                }
                for item in bonus.items
            ],
            "objective": _decimal_text(bonus.objective),
            "technology": _decimal_text(bonus.technology),
            "total": _decimal_text(bonus.total),
        },
    }


def _support_validate(
    *,
    application: Application,
    outcome: str,
    granted_dataset_ids: Iterable[int],
    granted_compute_code: str | None,
    support_starts_on: dt.date | None,
    support_ends_on: dt.date | None,
) -> tuple[list[int], ComputeOption | None, dt.date | None, dt.date | None]:
    """The support scale checked against the application and the call; returns it with defaults applied."""
    call = application.call
    dataset_ids = sorted({int(pk) for pk in granted_dataset_ids})
    requested = set(application.requested_datasets.values_list("pk", flat=True))
    not_requested = [pk for pk in dataset_ids if pk not in requested]
    if not_requested:
        raise DomainError(
            "dataset_not_requested",
            _("신청하지 않은 데이터는 지원할 수 없습니다 (신청 데이터 ID: %(ids)s).")
            % {"ids": ", ".join(map(str, not_requested))},
            field="granted_dataset_ids",
        )
    compute = None
    if granted_compute_code:
        compute = ComputeOption.objects.filter(call=call, code=granted_compute_code).first()
        if compute is None:
            raise DomainError(
                "compute_not_in_call",
                _("이 공모의 GPU 규격이 아닙니다: %(code)s") % {"code": granted_compute_code},
                field="granted_compute_code",
            )
    if outcome == Outcome.NOT_SELECTED:
        if dataset_ids or compute is not None or support_starts_on or support_ends_on:
            raise DomainError(
                "support_for_not_selected",
                _("미선정 기업에는 지원 내용과 기간을 정할 수 없습니다."),
                field="outcome",
            )
        return [], None, None, None
    if outcome == Outcome.SELECTED:
        if not dataset_ids and compute is None:
            raise DomainError(
                "support_missing",
                _("선정 기업의 지원 내용(데이터 또는 GPU)을 하나 이상 정하세요."),
                field="granted_dataset_ids",
            )
        if support_starts_on is None:
            raise DomainError(
                "support_start_missing", _("지원 시작일을 입력하세요."), field="support_starts_on"
            )
    # The announcement fixes the end of support for the whole call (§3: "~ 2025. 11. 28."); a company is
    # never promised a day beyond it, and a period left open ends with it.
    ends_on = support_ends_on or call.support_ends_on
    if ends_on > call.support_ends_on:
        raise DomainError(
            "support_after_call_end",
            _("지원 종료일은 공모의 지원기간 종료일(%(end)s)을 넘을 수 없습니다.")
            % {"end": call.support_ends_on.isoformat()},
            field="support_ends_on",
        )
    if support_starts_on is not None and support_starts_on > ends_on:
        raise DomainError(
            "support_period_invalid",
            _("지원 시작일이 종료일보다 늦습니다."),
            field="support_starts_on",
        )
    return dataset_ids, compute, support_starts_on, ends_on


@transaction.atomic
def decision_record(
    *,
    application: Application,
    outcome: str,
    granted_dataset_ids: Iterable[int] = (),
    granted_compute_code: str | None = None,
    support_starts_on: dt.date | None = None,
    support_ends_on: dt.date | None = None,
    note: str = "",
    actor: User,
    request: HttpRequest | None = None,
) -> Decision:
    """Record (or change, until publication) the operator's decision on ``application``.

    Refused, with nothing changed: not an operator; the committee still open; the results already
    published; an application the committee did not review; selected or reserve below the cut-off or
    without any score; datasets the company did not request; a GPU not offered by the call; a period
    ending after the call's support period or starting after its end.
    """
    operator_ensure(actor, _("선정 결과 입력"))
    if outcome not in Outcome.values:
        raise DomainError(
            "invalid_outcome", _("알 수 없는 결과입니다: %(o)s") % {"o": outcome}, field="outcome"
        )
    application = (
        Application.objects.select_for_update().select_related("call", "company").get(pk=application.pk)
    )
    committee = _closed_committee(application)
    existing = Decision.objects.filter(application=application).first()
    if existing is not None and existing.published_at is not None:
        raise DomainError(
            "decision_published", _("이미 공개된 선정 결과는 바꿀 수 없습니다."), status_code=409
        )
    row = next((r for r in ranking_for_committee(committee) if r.subject.pk == application.pk), None)
    if row is None:
        raise DomainError(
            "not_reviewed", _("평가 대상이 아닌 신청서입니다."), status_code=404, field="application"
        )
    if outcome in (Outcome.SELECTED, Outcome.RESERVE):
        if row.review_score is None:
            raise DomainError(
                "not_scored", _("제출된 평가표가 없어 선정·예비로 정할 수 없습니다."), field="outcome"
            )
        if not row.passes_cutoff:
            raise DomainError(
                "below_cutoff",
                _("선정 기준 점수(%(cutoff)s점)에 미달하여 선정·예비로 정할 수 없습니다.")
                % {"cutoff": f"{committee.cutoff_score:.2f}"},
                field="outcome",
            )
    dataset_ids, compute, starts_on, ends_on = _support_validate(
        application=application,
        outcome=outcome,
        granted_dataset_ids=granted_dataset_ids,
        granted_compute_code=granted_compute_code,
        support_starts_on=support_starts_on,
        support_ends_on=support_ends_on,
    )
    decision, _created = Decision.objects.update_or_create(
        application=application,
        defaults={
            "outcome": outcome,
            "review_score": row.review_score,
            "bonus_score": row.bonus_score,
            "final_score": row.final_score,
            "rank": row.rank,
            "granted_compute": compute,
            "support_starts_on": starts_on,
            "support_ends_on": ends_on,
            "note": note.strip(),
            "score_breakdown": score_breakdown_snapshot(application, row),
            "decided_by": actor,
            "decided_at": timeutils.now(),
        },
    )
    decision.granted_datasets.set(dataset_ids)
    audit_record(
        action="reviews.decision_recorded",
        actor=actor,
        target=decision,
        summary=f"{application.receipt_number} {outcome}",
        data={
            "receipt_number": application.receipt_number,
            "outcome": outcome,
            "previous_outcome": existing.outcome if existing else None,
            "review_score": _decimal_text(row.review_score),
            "bonus_score": _decimal_text(row.bonus_score),
            "final_score": _decimal_text(row.final_score),
            "rank": row.rank,
            "granted_dataset_ids": dataset_ids,
            "granted_compute": compute.code if compute else None,
            "support_starts_on": starts_on.isoformat() if starts_on else None,
            "support_ends_on": ends_on.isoformat() if ends_on else None,
            "note": decision.note,
        },
        request=request,
    )
    return decision


@transaction.atomic
def decisions_publish(*, committee: Committee, actor: User, request: HttpRequest | None = None) -> int:
    """Make the committee's decisions visible to the companies; returns how many were published.

    All at once or nothing: every reviewed application must have a decision, so no company learns its
    result while another's is still open.
    """
    operator_ensure(actor, _("결과 공개"))
    committee = Committee.objects.select_for_update().select_related("call").get(pk=committee.pk)
    if committee.status != Committee.Status.CLOSED:
        raise DomainError(
            "committee_open", _("평가가 종료된 뒤에 결과를 공개할 수 있습니다."), status_code=409
        )
    rows = ranking_for_committee(committee)
    decisions = {d.application_id: d for d in Decision.objects.filter(application__call_id=committee.call_id)}
    undecided = [
        row.subject.receipt_number or str(row.subject.pk) for row in rows if row.subject.pk not in decisions
    ]
    if undecided:
        raise DomainError(
            "decisions_missing",
            _("선정 결과가 정해지지 않은 신청서가 있습니다: %(receipts)s")
            % {"receipts": ", ".join(undecided)},
            status_code=409,
        )
    pending = [d for d in decisions.values() if d.published_at is None]
    if not pending:
        raise DomainError("already_published", _("공개할 새 선정 결과가 없습니다."), status_code=409)
    now = timeutils.now()
    Decision.objects.filter(pk__in=[d.pk for d in pending]).update(published_at=now)
    ordered = sorted(pending, key=lambda d: d.application_id)
    audit_record(
        action="reviews.decisions_published",
        actor=actor,
        target=committee,
        summary=f"published {len(pending)} decisions of {committee.call.slug}",
        data={
            "call": committee.call.slug,
            "count": len(pending),
            "application_ids": [d.application_id for d in ordered],
            "outcomes": {
                outcome: sum(1 for d in pending if d.outcome == outcome) for outcome in Outcome.values
            },
        },
        request=request,
    )
    return len(pending)
