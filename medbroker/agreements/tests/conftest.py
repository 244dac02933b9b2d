"""Fixtures of the agreements tests."""

from __future__ import annotations

import pytest

from medbroker.agreements.tests.scene import FAKE_PDF


@pytest.fixture
def fast_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint takes about a second a document; tests of rules other than the document skip it."""
    monkeypatch.setattr(
        "medbroker.agreements.services.documents.pdf_render", lambda *args, **kwargs: FAKE_PDF
    )
