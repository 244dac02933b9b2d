"""Configuring a call from its definition (``calls.definitions``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from medbroker.audit.services import audit_record
from medbroker.calls.models import (
    Call,
    Certification,
    ComputeOption,
    EligibilityCriterion,
    RequiredDocument,
    RubricItem,
)
from medbroker.core.errors import DomainError

# Words under /calls/ that name other pages; a call with one of these slugs could not be reached.
RESERVED_CALL_SLUGS = ("applications", "consultations", "console", "documents", "new")


@transaction.atomic
def call_configure(
    *,
    definition: dict[str, Any],
    slug: str,
    intake_opens_at: dt.datetime | None = None,
    intake_closes_at: dt.datetime | None = None,
    support_ends_on: dt.date | None = None,
    title: str | None = None,
    is_practice: bool = False,
    receipt_prefix: str | None = None,
    actor: Any = None,
) -> Call:
    """Create or update the call ``slug`` and all its configuration from ``definition`` (idempotent).

    The dates default to the definition's; a practice call passes its own window with the same rules.
    """
    if slug in RESERVED_CALL_SLUGS:
        raise DomainError(
            "call_slug_reserved",
            _("'%(slug)s'은(는) 예약된 주소라 공모 식별자로 쓸 수 없습니다.") % {"slug": slug},
        )
    call, created = Call.objects.update_or_create(
        slug=slug,
        defaults={
            "title": title or definition["title"],
            "title_en": definition.get("title_en", ""),
            "programme": definition.get("programme", ""),
            "agency": definition.get("agency", ""),
            "summary": definition.get("summary", ""),
            "support_types": definition.get("support_types", []),
            "support_scale": definition.get("support_scale", ""),
            "subsidy": definition.get("subsidy", ""),
            "company_contribution": definition.get("company_contribution", ""),
            "intake_opens_at": intake_opens_at or definition["intake_opens_at"],
            "intake_closes_at": intake_closes_at or definition["intake_closes_at"],
            "support_ends_on": support_ends_on or definition["support_ends_on"],
            "minimum_eligibility": definition.get("minimum_eligibility", 1),
            # Receipt numbers are unique across calls: a second call on the same definition (a practice
            # call) passes its own prefix, or "" to derive one from its slug.
            "receipt_prefix": definition.get("receipt_prefix", "")
            if receipt_prefix is None
            else receipt_prefix,
            "bonus_rules": definition.get("bonus_rules", {}),
            "contact": definition.get("contact", []),
            "is_practice": is_practice,
        },
    )
    for spec in definition.get("eligibility", []):
        EligibilityCriterion.objects.update_or_create(
            call=call,
            code=spec["code"],
            defaults={
                "number": spec["number"],
                "title": spec["title"],
                "title_en": spec.get("title_en", ""),
                "requirement": spec["requirement"],
                "required_document_code": spec.get("document", ""),
            },
        )
    for spec in definition.get("documents", []):
        RequiredDocument.objects.update_or_create(
            call=call,
            code=spec["code"],
            defaults={
                "number": spec["number"],
                "title": spec["title"],
                "title_en": spec.get("title_en", ""),
                "condition": spec.get("condition", RequiredDocument.Condition.ALWAYS),
                "criterion_code": spec.get("criterion", ""),
                "has_template": spec.get("has_template", True),
            },
        )
    for order, spec in enumerate(definition.get("rubric", []), start=1):
        RubricItem.objects.update_or_create(
            call=call,
            code=spec["code"],
            defaults={
                "order": order,
                "area": spec["area"],
                "item": spec["item"],
                "indicator": spec["indicator"],
                "judged": spec["judged"],
                "max_points": spec["max_points"],
            },
        )
    for spec in definition.get("certifications", []):
        Certification.objects.update_or_create(
            call=call,
            name=spec["name"],
            defaults={
                "category": spec["category"],
                "number": spec["number"],
                "description": spec.get("description", ""),
                "aliases": spec.get("aliases", []),
            },
        )
    for order, spec in enumerate(definition.get("compute_options", []), start=1):
        ComputeOption.objects.update_or_create(
            call=call,
            code=spec["code"],
            defaults={**{k: v for k, v in spec.items() if k != "code"}, "order": order},
        )
    audit_record(
        action="calls.call_configured",
        actor=actor,
        target=call,
        summary=f"{'created' if created else 'updated'} call {slug}",
        # The window is what decides every late submission: keep it in the log, so each change is explainable.
        data={
            "slug": slug,
            "is_practice": is_practice,
            "intake_opens_at": call.intake_opens_at.isoformat(),
            "intake_closes_at": call.intake_closes_at.isoformat(),
            "support_ends_on": call.support_ends_on.isoformat(),
        },
    )
    return call
