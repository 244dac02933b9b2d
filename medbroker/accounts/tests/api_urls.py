"""A URL configuration for the api_auth tests: two endpoints behind ``api_auth`` under /api/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from ninja import NinjaAPI

from medbroker.accounts.api_auth import api_auth
from medbroker.core.errors import DomainError

api = NinjaAPI(urls_namespace="accounts_auth_test_api", docs_url=None, openapi_url=None)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    # The same shape as config.api's handler, so the status and body match the real API.
    return api.create_response(
        request, {"code": exc.code, "message": str(exc.message), "field": exc.field}, status=exc.status_code
    )


@api.get("/whoami", auth=api_auth)
def whoami(request: HttpRequest) -> dict[str, object]:
    return {
        "username": request.auth.username,  # type: ignore[attr-defined]
        "request_user": request.user.username,  # type: ignore[union-attr]
        "verified": request.user.is_verified(),  # type: ignore[union-attr]
    }


@api.post("/echo", auth=api_auth)
def echo(request: HttpRequest) -> dict[str, object]:
    return {"username": request.auth.username}  # type: ignore[attr-defined]


urlpatterns = [path("api/", api.urls)]
