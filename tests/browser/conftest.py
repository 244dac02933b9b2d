"""Playwright driving the machine's Chromium (Debian's ``chromium``) against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medbroker.core.testing import service_missing

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The closed network refuses outside connections; keep Chromium from trying.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser_page(live_server: Any, settings: Any) -> Iterator[Any]:
    executable = _chromium()
    if executable is None:
        service_missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed")
    # Playwright's sync API runs an event loop in this thread; the test itself only reads the database.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    settings.ALLOWED_HOSTS = ["*"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
        page = context.new_page()
        page.set_default_timeout(15000)
        page.base_url = live_server.url  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # Queries made while Playwright's loop ran got their own connection; close it so PostgreSQL
            # can drop the test database afterwards.
            from django.db import connections

            connections.close_all()
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def screenshot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def company_page(browser_page: Any) -> Iterator[Any]:
    """The company's browser window; closes the database connection the test body opened, before Playwright stops.

    While Playwright's sync API runs its event loop in this thread, Django's connection handler (an asgiref
    Local) hands the test body a connection of its own. Nothing closes it once Playwright has stopped, and on
    PostgreSQL the test database then cannot be dropped ("is being accessed by other users").
    """
    from django.db import connections

    yield browser_page
    connections.close_all()


@pytest.fixture
def operator_page(company_page: Any) -> Iterator[Any]:
    """A second, separate browser window (own cookies) on the same live server, for the operator."""
    context = company_page.context.browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="ko-KR"
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base_url = company_page.base_url
    try:
        yield page
    finally:
        context.close()
