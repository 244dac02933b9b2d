"""What the outcomes pages share: the signed-in user, links to other steps, downloads."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from medbroker.accounts.models import User
from medbroker.core import timeutils
from medbroker.core.errors import NotFoundError


def request_user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def link(name: str, *args: Any) -> str:
    """The URL of a page of another step, or "" while that page does not exist in this installation."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def found_or_404(error: NotFoundError) -> Http404:
    return Http404(str(error.message))


def download(content: bytes, *, content_type: str, filename: str, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def stamp() -> str:
    return timeutils.to_kst(timeutils.now()).strftime("%Y%m%d-%H%M")
