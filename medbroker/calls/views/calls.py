"""Public pages of the calls: the list, one call in full, and the templates of its documents."""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from medbroker.calls.models import RequiredDocument
from medbroker.calls.selectors.calls import (
    call_get_public,
    call_rubric_table,
    call_summary,
    calls_summaries,
    certifications_by_category,
)
from medbroker.calls.services.templates_docs import document_template_content
from medbroker.core import timeutils


def call_list(request: HttpRequest) -> HttpResponse:
    return render(request, "calls/calls/list.html", {"summaries": calls_summaries()})


def call_detail(request: HttpRequest, slug: str) -> HttpResponse:
    call = call_get_public(slug=slug)
    documents = list(call.required_documents.all())
    criteria = list(call.eligibility_criteria.all())
    certification_groups = certifications_by_category(call)
    return render(
        request,
        "calls/calls/detail.html",
        {
            "call": call,
            "summary": call_summary(call, when=timeutils.now()),
            "criteria": criteria,
            "criterion_numbers": {criterion.code: criterion.number for criterion in criteria},
            "documents": documents,
            "documents_by_code": {document.code: document for document in documents},
            "rubric": call_rubric_table(call),
            "certification_groups": certification_groups,
            "certification_count": sum(len(items) for _category, items in certification_groups),
            "compute_options": list(call.compute_options.all()),
        },
    )


def document_template(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    call = call_get_public(slug=slug)
    document = get_object_or_404(
        RequiredDocument.objects.select_related("call"), call=call, code=code, has_template=True
    )
    content = document_template_content(document=document)
    response = HttpResponse(content, content_type="application/pdf")
    filename = f"{document.number:02d}_{document.title}_양식.pdf"
    # RFC 6266: an ASCII fallback name and the Korean name in UTF-8.
    response["Content-Disposition"] = (
        f"attachment; filename=\"{call.slug}-{document.code}.pdf\"; filename*=UTF-8''{quote(filename)}"
    )
    return response
