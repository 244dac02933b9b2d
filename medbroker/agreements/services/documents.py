"""The agreement document: the PDF both sides sign, generated from the terms of one version.

The file and its SHA-256 are stored with the version, so a signed copy uploaded later can be compared with
the text that was offered, and an amendment never changes what an earlier version said.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile

from medbroker.accounts.models import Organisation
from medbroker.agreements.models import Agreement, AgreementVersion
from medbroker.catalog.models import Sensitivity
from medbroker.core.pdf import pdf_render

DOCUMENT_TEMPLATE = "agreements/document_pdf.html"


def period_end_display(agreement: Agreement) -> str:
    """The last instant of the period as the agreement states it: "2025-11-28 23:59:59 (KST)"."""
    return f"{agreement.ends_on:%Y-%m-%d} 23:59:59 (KST)"


def _lab_name(version: AgreementVersion) -> str:
    lab = Organisation.objects.filter(kind=Organisation.Kind.LAB).order_by("pk").first()
    return lab.name if lab is not None else version.agreement.call.agency


def agreement_document_context(version: AgreementVersion) -> dict[str, Any]:
    agreement = version.agreement
    rows = list(version.datasets.select_related("dataset__institution__organisation").order_by("pk"))
    return {
        "agreement": agreement,
        "version": version,
        "call": agreement.call,
        "company": agreement.company,
        "lab_name": _lab_name(version),
        "rows": rows,
        "online_titles": [row.dataset.title for row in rows if row.dataset.sensitivity == Sensitivity.LOW],
        "compute": version.compute_option,
        "period_end": period_end_display(version.agreement),
        "report_due_days": settings.MEDBROKER_REPORT_DUE_DAYS,
    }


def agreement_document_store(version: AgreementVersion) -> str:
    """Render the version's PDF and store it with its SHA-256; return the stored name.

    Call inside the transaction that creates the version; the caller deletes the file if that fails.
    """
    content = pdf_render(DOCUMENT_TEMPLATE, agreement_document_context(version))
    version.document_sha256 = hashlib.sha256(content).hexdigest()
    version.document.save(
        f"{version.agreement.number}-v{version.number}.pdf", ContentFile(content), save=False
    )
    version.save(update_fields=["document", "document_sha256"])
    return str(version.document.name)
