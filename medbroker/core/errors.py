"""The one error type of the project.

A service raises :class:`DomainError` with a stable ``code`` and a translated message; views turn it into a
message on the page, the API into ``{"code": …, "message": …}`` with the error's HTTP status.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(
        self,
        code: str,
        message: Any,
        *,
        status_code: int | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.field = field
        self.details = details or {}
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return str(self.message)


class PermissionDeniedError(DomainError):
    status_code = 403


class NotFoundError(DomainError):
    status_code = 404
