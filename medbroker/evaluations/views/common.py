"""What the performance-test pages share: the roles, the signed-in user, lookups that answer 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from medbroker.accounts.models import Role, User
from medbroker.core.errors import DomainError, NotFoundError

STAFF_ROLES = (Role.OPERATOR, Role.AUDITOR)
READ_ROLES = (*STAFF_ROLES, Role.APPLICANT)

T = TypeVar("T")


def user_of(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def found_or_404(lookup: Callable[[Any, int], T], request: HttpRequest, pk: int) -> T:
    try:
        return lookup(request.user, pk)
    except NotFoundError as error:
        raise Http404(str(error.message)) from None


def forbidden_reraise(error: DomainError) -> None:
    # The roles are checked before the service runs; should the service still refuse, the answer is 403.
    if error.status_code == 403:
        raise PermissionDenied(str(error.message)) from None


def error_message(request: HttpRequest, error: DomainError) -> None:
    forbidden_reraise(error)
    messages.error(request, str(error.message))


def form_error_add(form: Any, error: DomainError) -> None:
    """The service's error on its field when the form has that field, else on the form."""
    forbidden_reraise(error)
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error.message))
