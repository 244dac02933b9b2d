"""Templates (양식) of a call's required documents, generated as PDF forms by the platform itself.

The announcement says each document has a KTL template but does not reproduce it, and the closed learning
room has no internet to fetch one: the platform renders a form per document from the call's own data (its
name, the eligibility criteria, the GPU options) and the fields of ``definitions.DOCUMENT_TEMPLATES``.

A rendered PDF is stored in ``RequiredDocument.template`` under a name that carries a digest of the form's
HTML, so it is rendered again only when the call or the form changes (a PDF takes WeasyPrint a while, the
HTML is cheap).
"""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string

from medbroker.calls.definitions import DOCUMENT_TEMPLATE_DEFAULT, DOCUMENT_TEMPLATES
from medbroker.calls.models import Call, RequiredDocument
from medbroker.core.pdf import pdf_render

DOCUMENT_TEMPLATE_HTML = "calls/documents/template_pdf.html"


def _context(document: RequiredDocument) -> dict[str, object]:
    call = document.call
    return {
        "call": call,
        "document": document,
        "sections": [
            {**section, "blank_range": range(section.get("blank_rows", 0))}
            for section in DOCUMENT_TEMPLATES.get(document.code, DOCUMENT_TEMPLATE_DEFAULT)
        ],
        "criteria": list(call.eligibility_criteria.all()),
        "compute_options": list(call.compute_options.all()),
    }


def _digest(document: RequiredDocument) -> str:
    html = render_to_string(DOCUMENT_TEMPLATE_HTML, _context(document))
    return hashlib.sha256(html.encode()).hexdigest()[:12]


def document_template_name(document: RequiredDocument) -> str:
    """The stored file name: ``<call>-<nn>-<code>-<digest>.pdf``."""
    return f"{document.call.slug}-{document.number:02d}-{document.code}-{_digest(document)}.pdf"


def document_template_render(*, document: RequiredDocument) -> bytes:
    """The PDF form of ``document`` for its call."""
    return pdf_render(DOCUMENT_TEMPLATE_HTML, _context(document))


def _stored_is_current(document: RequiredDocument, name: str) -> bool:
    stored = document.template.name or ""
    if not stored:
        return False
    return stored.rsplit("/", 1)[-1] == name and document.template.storage.exists(stored)


@transaction.atomic
def document_template_attach(*, document: RequiredDocument) -> bool:
    """Render and store the template of ``document`` unless the stored one is current. True when rendered."""
    name = document_template_name(document)
    if _stored_is_current(document, name):
        return False
    previous = document.template.name if document.template else ""
    document.template.save(name, ContentFile(document_template_render(document=document)), save=True)
    if previous and previous != document.template.name:
        # Replaced, not kept: an old form must not be handed out after the call changed.
        document.template.storage.delete(previous)
    return True


def call_document_templates_attach(*, call: Call) -> int:
    """Make sure every document of ``call`` that has a template has a current PDF; returns how many were rendered."""
    rendered = 0
    for document in call.required_documents.filter(has_template=True).select_related("call"):
        rendered += document_template_attach(document=document)
    return rendered


def document_template_content(*, document: RequiredDocument) -> bytes:
    """The bytes to download: the stored PDF, rendered and stored first when missing or out of date."""
    document_template_attach(document=document)
    with document.template.open("rb") as handle:
        return handle.read()
