"""Fixtures of the evaluations tests: the sandbox's isolation, test sets made through the services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import User
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.core.testing import service_missing
from medbroker.evaluations import testdata
from medbroker.evaluations.models import TestSet
from medbroker.evaluations.sandbox.runner import Isolation, isolation_probe
from medbroker.evaluations.services.test_sets import test_set_activate, test_set_cases_import, test_set_create


@pytest.fixture
def isolation() -> Isolation:
    """The sandbox's confinement on this machine; tests of it skip (fail under REQUIRE_SERVICES=1) where the
    network cannot be isolated (no ``unshare``, user namespaces turned off)."""
    found = isolation_probe()
    if not found.network_isolated:
        service_missing("no network namespace for the sandbox (unshare --net / --user) on this machine")
    return found


@pytest.fixture
def clock() -> Iterator[Any]:
    """Inside the 2025 support period (evaluation numbers are EV-2025-…)."""
    with time_machine.travel(DURING_SUPPORT, tick=False) as traveller:
        yield traveller


def uploads(cases_csv: bytes, archive: bytes | None) -> tuple[SimpleUploadedFile, SimpleUploadedFile | None]:
    csv_file = SimpleUploadedFile("cases.csv", cases_csv, content_type="text/csv")
    zip_file = SimpleUploadedFile("cases.zip", archive, content_type="application/zip") if archive else None
    return csv_file, zip_file


def active_test_set(
    operator: User,
    files: tuple[bytes, bytes],
    *,
    task_type: str = "binary",
    classes: list[str] | None = None,
    name: str = "흉부 X선 결절 분류 시험셋",
    spacing: list[float] | None = None,
) -> TestSet:
    """A test set registered, imported and activated through the services."""
    default_classes = {
        "binary": ["음성", "양성"],
        "multiclass": testdata.MULTICLASS_CLASSES,
        "detection": ["결절"],
        "segmentation": ["결절"],
    }
    test_set = test_set_create(
        actor=operator,
        name=name,
        version="1.0",
        task_type=task_type,
        data_kind="imaging",
        classes=classes or default_classes[task_type],
        spacing=spacing,
    )
    cases_csv, archive = uploads(*files)
    test_set_cases_import(actor=operator, test_set=test_set, cases_csv=cases_csv, archive=archive)
    return test_set_activate(actor=operator, test_set=test_set)


@pytest.fixture
def binary_test_set(operator: User) -> TestSet:
    """40 binary cases (20 positives), 32×32 inputs, with institution, manufacturer, age group and sex."""
    return active_test_set(operator, testdata.classification_test_set_files(40, seed=3))
