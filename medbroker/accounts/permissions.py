"""Role checks for views. Object-level rules (a company sees only its own records) live in selectors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from medbroker.accounts.models import Role, User
from medbroker.core.errors import PermissionDeniedError

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])

# Roles that may read every application and consultation of a call; only the first may change them.
STAFF_READ_ROLES = (Role.OPERATOR, Role.AUDITOR)


def role_required(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    """Anonymous users go to the login page; signed-in users without one of ``roles`` get 403."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.has_role(*roles):  # type: ignore[union-attr]
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def operator_ensure(actor: User, what: Any = None) -> None:
    """Services' own check that only an operator does ``what`` (views check roles too; services must not
    rely on it, since the API, tasks and the shell call them directly)."""
    if actor.has_role(Role.OPERATOR):
        return
    if what is None:
        raise PermissionDeniedError("forbidden", _("운영자만 할 수 있습니다."))
    raise PermissionDeniedError("forbidden", _("%(what)s은(는) 운영자만 할 수 있습니다.") % {"what": what})
