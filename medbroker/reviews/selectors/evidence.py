"""Reads for the bonus pages: whose application a user may open, and each evidence row with its verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.calls.models import Application
from medbroker.calls.selectors.applications import applications_visible_to
from medbroker.reviews.models import EvidenceVerification
from medbroker.reviews.services.bonus import BonusBreakdown, ItemResult, bonus_rules_describe
from medbroker.reviews.services.evidence import (
    VERIFIABLE_STATUSES,
    bonus_for_application,
    bonus_rules_for_call,
    verdicts_for_application,
)

Kind = EvidenceVerification.Kind


def application_get_for_bonus(*, user: User, pk: int) -> Application:
    """The application whose bonus ``user`` may see: an applicant its own company's (another company's is
    404), operators and auditors any. The view's role check has already turned everyone else away."""
    application = applications_visible_to(user).select_related("call", "company").filter(pk=pk).first()
    if application is None:
        raise Http404(_("신청서를 찾을 수 없습니다."))
    return application


@dataclass(frozen=True)
class EvidenceRow:
    kind: str
    evidence_id: int
    label: str
    detail: str
    verdict: EvidenceVerification | None
    # Under the call's rules, counting all evidence: does this row count, and if not, why.
    counted: bool
    note: str

    @property
    def anchor(self) -> str:
        return f"evidence-{self.kind}-{self.evidence_id}"


@dataclass(frozen=True)
class EvidenceSection:
    kind: str
    label: str
    rows: list[EvidenceRow]


def _outcome(item: ItemResult, ref: Any) -> tuple[bool, str]:
    if ref in item.counted_refs:
        return True, ""
    for skipped in item.not_counted:
        if skipped.ref == ref:
            return False, skipped.reason
    # Revenue with no comparison possible (no baseline, no current year): the item's reason says why.
    return False, item.reason


def evidence_sections(application: Application, *, preview: BonusBreakdown) -> list[EvidenceSection]:
    """Every evidence row of ``application`` by kind, with the operator's verdict and how the rules treat it."""
    verdicts = verdicts_for_application(application)
    sections: list[EvidenceSection] = []

    def row(kind: str, pk: int, label: str, detail: str, item: ItemResult) -> EvidenceRow:
        counted, note = _outcome(item, pk)
        return EvidenceRow(kind, pk, label, detail, verdicts.get((kind, pk)), counted, note)

    sections.append(
        EvidenceSection(
            Kind.REVENUE,
            str(Kind.REVENUE.label),
            [
                row(
                    Kind.REVENUE,
                    record.pk,
                    _("%(year)d년 매출액") % {"year": record.year},
                    f"{record.amount_krw:,}원" + (_(" (가결산)") if record.provisional else ""),
                    preview.revenue,
                )
                for record in application.revenues.order_by("year")
            ],
        )
    )
    sections.append(
        EvidenceSection(
            Kind.PROJECT,
            str(Kind.PROJECT.label),
            [
                row(
                    Kind.PROJECT,
                    project.pk,
                    f"{project.project_id} {project.title}",
                    " · ".join(
                        part
                        for part in (
                            str(project.get_kind_display()),
                            project.agency,
                            f"{project.started_on}~{project.ended_on}",
                        )
                        if part
                    ),
                    preview.government_projects,
                )
                for project in application.projects.order_by("started_on", "pk")
            ],
        )
    )
    sections.append(
        EvidenceSection(
            Kind.CERTIFICATION,
            str(Kind.CERTIFICATION.label),
            [
                row(
                    Kind.CERTIFICATION,
                    held.pk,
                    held.certification.name,
                    _("인증 번호 %(number)s · 유효기간 %(start)s~%(end)s")
                    % {
                        "number": held.certificate_number or "-",
                        "start": held.valid_from or "",
                        "end": held.valid_until or "",
                    },
                    preview.certifications,
                )
                for held in application.certifications.select_related("certification").order_by("pk")
            ],
        )
    )
    sections.append(
        EvidenceSection(
            Kind.INTELLECTUAL_PROPERTY,
            str(Kind.INTELLECTUAL_PROPERTY.label),
            [
                row(
                    Kind.INTELLECTUAL_PROPERTY,
                    registration.pk,
                    f"{registration.registration_number} {registration.title}",
                    f"{registration.get_kind_display()} · {_('등록일')} {registration.registered_on}",
                    preview.intellectual_property,
                )
                for registration in application.intellectual_property.order_by("registered_on", "pk")
            ],
        )
    )
    return sections


def bonus_page_context(application: Application, *, with_verified: bool) -> dict[str, Any]:
    """What the bonus pages show: the preview over all evidence and, for staff, the verified-only score."""
    rules = bonus_rules_for_call(application.call)
    preview = bonus_for_application(application, verified_only=False)
    context: dict[str, Any] = {
        "application": application,
        "call": application.call,
        "preview": preview,
        "rule_texts": bonus_rules_describe(rules),
        "evidence_count": sum(len(item.counted) + len(item.not_counted) for item in preview.items),
    }
    if with_verified:
        context["verified"] = bonus_for_application(application, verified_only=True)
        context["sections"] = evidence_sections(application, preview=preview)
        context["verifiable"] = application.status in VERIFIABLE_STATUSES
    return context
