from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from oauth2_provider import urls as oauth2_urls

from config.api import api
from medbroker.calls.views.home import home
from medbroker.compute.views_workspaces import HubSignInView

urlpatterns = [
    path("", home, name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("medbroker.accounts.urls")),
    path("catalog/", include("medbroker.catalog.urls")),
    path("ingest/", include("medbroker.ingest.urls")),
    path("calls/", include("medbroker.calls.urls")),
    path("reviews/", include("medbroker.reviews.urls")),
    path("agreements/", include("medbroker.agreements.urls")),
    path("access/", include("medbroker.access.urls")),
    path("compute/", include("medbroker.compute.urls")),
    path("outcomes/", include("medbroker.outcomes.urls")),
    path("evaluations/", include("medbroker.evaluations.urls")),
    path("audit/", include("medbroker.audit.urls")),
    # Staff sign in through the platform's login (lockout, second factor, audit), not the admin's own form.
    path("admin/login/", RedirectView.as_view(pattern_name="accounts:login", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    # OpenID Connect provider for the workspace hub: authorize, token, revoke, userinfo, JWKS and discovery
    # only. Not django-oauth-toolkit's pages where any signed-in person could register a client, nor its
    # dynamic client registration: the hub's client is the platform's own (hub_oauth_application_ensure).
    # The hub's client signs in through the workspace rules first (compute), then the provider's own view.
    path("o/authorize/", HubSignInView.as_view()),
    path(
        "o/",
        include(
            (
                oauth2_urls.metadata_urlpatterns
                + oauth2_urls.base_urlpatterns
                + oauth2_urls.oidc_urlpatterns,
                "oauth2_provider",
            )
        ),
    ),
]
