"""The REST API (django-ninja): ``/api/v1/…``, OpenAPI docs at ``/api/docs``.

Each app owns a router in its ``api.py``; errors from services come back as ``{"code", "message"}``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.renderers import JSONRenderer

from medbroker.core.errors import DomainError


class _Utf8JSONRenderer(JSONRenderer):
    # Korean names come back as text ("위 내시경"), not \uXXXX escapes, for people reading with curl.
    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    renderer=_Utf8JSONRenderer(),
    title="medbroker API",
    version="1",
    description=(
        "의료데이터 중개 플랫폼 API. 공개 카탈로그는 인증 없이, 기업의 협의·신청·협약·데이터 이용·학습실 예약·"
        "결과보고와 운영자의 현황 조회는 세션 또는 API 토큰으로 접근합니다."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(
        request, {"code": exc.code, "message": str(exc.message), "field": exc.field}, status=exc.status_code
    )


def _register_routers() -> None:
    from medbroker.access.api_grants import router as access_grants_router
    from medbroker.access.api_rooms import router as access_rooms_router
    from medbroker.agreements.api import router as agreements_router
    from medbroker.calls.api import router as calls_router
    from medbroker.catalog.api import router as catalog_router
    from medbroker.compute.api import router as compute_router
    from medbroker.compute.api_workspaces import hub_router as compute_hub_router
    from medbroker.compute.api_workspaces import router as compute_workspaces_router
    from medbroker.evaluations.api import router as evaluations_router
    from medbroker.ingest.api import router as ingest_router
    from medbroker.outcomes.api import router as outcomes_router
    from medbroker.reviews.api import router as reviews_router

    api.add_router("/v1/datasets", catalog_router)
    api.add_router("/v1", calls_router)
    api.add_router("/v1/reviews", reviews_router)
    api.add_router("/v1/agreements", agreements_router)
    api.add_router("/v1/access", access_grants_router)
    api.add_router("/v1/rooms", access_rooms_router)
    api.add_router("/v1/compute", compute_router)
    api.add_router("/v1/compute/workspaces", compute_workspaces_router)
    api.add_router("/v1/compute/hub", compute_hub_router)
    api.add_router("/v1/outcomes", outcomes_router)
    api.add_router("/v1/ingest", ingest_router)
    api.add_router("/v1/evaluations", evaluations_router)


_register_routers()
