"""Receipt numbers: ``<prefix>-0001``, a sequence per call in the order of first submission.

Two companies submitting in the same second must never share a number, and a number is never reused
(a withdrawn application keeps its own). The call row is locked while the next number is chosen, and the
unique constraint on ``Application.receipt_number`` backs that up on databases where ``select_for_update``
does nothing (SQLite serialises writers instead): a collision is retried with the next number.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from medbroker.calls.models import Application, Call
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.core.pdf import pdf_render
from medbroker.core.timeutils import to_kst

RECEIPT_PDF_TEMPLATE = "calls/applications/receipt_pdf.html"
RECEIPT_DIGITS = 4
_MAX_ATTEMPTS = 5


def receipt_prefix(call: Call) -> str:
    """The call's configured prefix; otherwise the initials of its identifier and the intake year."""
    if call.receipt_prefix:
        return call.receipt_prefix
    words = [w for w in re.split(r"[^A-Za-z0-9]+", call.slug) if w]
    letters = "".join(w[0] for w in words if not w.isdigit()).upper() or "APP"
    year = next((w for w in words if w.isdigit() and len(w) == 4), str(to_kst(call.intake_opens_at).year))
    return f"{letters}{year}"


def _next_number(call: Call, prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)$")
    used = Application.objects.filter(call=call, receipt_number__startswith=f"{prefix}-").values_list(
        "receipt_number", flat=True
    )
    numbers = [int(m.group(1)) for n in used if n and (m := pattern.match(n))]
    return max(numbers, default=0) + 1


def receipt_number_assign(*, application: Application) -> str:
    """Give ``application`` the next receipt number of its call and save it. Call inside a transaction."""
    prefix = receipt_prefix(application.call)
    # Held until the surrounding transaction ends, so a concurrent submission waits for this one.
    Call.objects.select_for_update().filter(pk=application.call_id).first()
    for _attempt in range(_MAX_ATTEMPTS):
        number = f"{prefix}-{_next_number(application.call, prefix):0{RECEIPT_DIGITS}d}"
        try:
            with transaction.atomic():
                Application.objects.filter(pk=application.pk).update(receipt_number=number)
        except IntegrityError:
            continue
        application.receipt_number = number
        return number
    raise DomainError(
        "receipt_busy",
        _("접수가 몰려 접수번호를 정하지 못했습니다. 잠시 후 다시 제출해 주세요."),
        status_code=503,
    )


def receipt_context(application: Application) -> dict[str, Any]:
    """What the receipt page and its PDF show: the call, the company, the number, the KST time, the files."""
    return {
        "application": application,
        "call": application.call,
        "company": application.company,
        "submitted_at_kst": to_kst(application.submitted_at) if application.submitted_at else None,
        "last_submitted_at_kst": to_kst(application.last_submitted_at)
        if application.last_submitted_at
        else None,
        "documents": sorted(application.documents.all(), key=lambda d: d.requirement.number),
        "datasets": list(application.requested_datasets.all()),
        "compute_option": application.compute_option,
        "issued_at_kst": to_kst(timeutils.now()),
    }


def receipt_pdf_render(application: Application) -> bytes:
    """The receipt (접수증) as a PDF, with the platform's own Korean font."""
    if not application.receipt_number:
        raise DomainError("not_submitted", _("제출하지 않은 신청서에는 접수증이 없습니다."), status_code=404)
    return pdf_render(RECEIPT_PDF_TEMPLATE, receipt_context(application))
