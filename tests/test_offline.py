"""The closed learning room has no internet: every page must load only what the platform serves itself."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from medbroker.catalog.models import Dataset

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""(?:src|href)=["']([^"'#]+)["']""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")


@pytest.fixture
def demo(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("demo")
    capsys.readouterr()


def _pages() -> list[str]:
    dataset = Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED).order_by("pk").first()
    assert dataset is not None
    return [
        "/",
        "/catalog/",
        f"/catalog/{dataset.pk}/",
        "/calls/",
        "/calls/khealth-daegu-2025/",
        "/accounts/login/",
        "/accounts/signup/",
        "/api/docs",
    ]


def test_pages_reference_only_assets_the_platform_serves(demo: None, client: Client) -> None:
    stylesheets: set[str] = set()
    for page in _pages():
        response = client.get(page)
        assert response.status_code == 200, page
        for target in ASSET.findall(response.content.decode()):
            assert not re.match(r"^(https?:)?//", target), f"{page} loads {target} from outside"
            if target.startswith("/static/"):
                asset = client.get(target)
                assert asset.status_code == 200, f"{page}: {target} is not served"
                if target.endswith(".css"):
                    stylesheets.add(target)
    assert "/static/vendor/krds/css/component/component.css" in stylesheets
    assert "/static/vendor/htmx/htmx.min.js" in {
        t for p in ["/"] for t in ASSET.findall(client.get(p).content.decode())
    }


def test_stylesheets_and_fonts_resolve_locally(demo: None, client: Client) -> None:
    from urllib.parse import urljoin

    for sheet in [
        "/static/medbroker/app.css",
        "/static/vendor/krds/css/common/common.css",
        "/static/vendor/krds/css/component/component.css",
    ]:
        css = b"".join(client.get(sheet).streaming_content).decode()  # type: ignore[attr-defined]
        for target in set(CSS_URL.findall(css)):
            if target.startswith("data:"):
                continue
            assert not re.match(r"^(https?:)?//", target), f"{sheet} loads {target} from outside"
            resolved = urljoin(sheet, target).split("?")[0]
            assert client.get(resolved).status_code == 200, f"{sheet}: {resolved} is not served"
