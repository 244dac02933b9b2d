"""Bonus evidence rows for tests: an application with full-marks evidence (5 + 5 under the 2025 rules)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from medbroker.calls.models import (
    Application,
    CertificationHeld,
    GovernmentProject,
    IntellectualProperty,
    RevenueRecord,
)
from medbroker.reviews.models import EvidenceVerification

Kind = EvidenceVerification.Kind


def add_evidence(application: Application) -> dict[str, list[Any]]:
    """Full-marks evidence: revenue up, 5 projects, 5 listed certifications, 5 registrations."""
    call = application.call
    revenues = [
        RevenueRecord.objects.create(
            application=application, year=year, amount_krw=amount, provisional=provisional
        )
        for year, amount, provisional in (
            (2021, 800_000_000, False),
            (2022, 900_000_000, False),
            (2023, 1_000_000_000, False),
            (2024, 1_200_000_000, True),
        )
    ]
    projects = [
        GovernmentProject.objects.create(
            application=application,
            project_id=f"RS-2023-{n:05d}",
            title=f"과제 {n}",
            started_on=dt.date(2023, 1, n),
            ended_on=dt.date(2024, 12, 31),
        )
        for n in range(1, 6)
    ]
    certifications = [
        CertificationHeld.objects.create(
            application=application,
            certification=call.certifications.get(name=name),
            certificate_number=f"C-{index}",
            valid_from=dt.date(2024, 1, 1),
            valid_until=dt.date(2026, 12, 31),
        )
        for index, name in enumerate(("GS", "ISO 9001", "ISMS-P", "CC", "InnoBiz"))
    ]
    registrations = [
        IntellectualProperty.objects.create(
            application=application,
            registration_number=f"10-24{n:05d}",
            title=f"발명 {n}",
            registered_on=dt.date(2024, 2, n),
        )
        for n in range(1, 6)
    ]
    return {
        Kind.REVENUE: revenues,
        Kind.PROJECT: projects,
        Kind.CERTIFICATION: certifications,
        Kind.INTELLECTUAL_PROPERTY: registrations,
    }
