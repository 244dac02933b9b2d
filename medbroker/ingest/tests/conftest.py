"""Fixtures of the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from medbroker.core.testing import service_missing
from medbroker.ingest.tests.orthanc import OrthancServer, OrthancStartError, orthanc_missing_reason

# --- Orthanc (DICOMweb) ---


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "orthanc: needs the Orthanc PACS with its DICOMweb plugin")


@pytest.fixture(scope="session")
def orthanc() -> Iterator[OrthancServer]:
    """One Orthanc for the whole run; a test that needs known contents calls ``orthanc.clear()`` first.

    Missing or failing to start, it skips the test with the reason, except under ``REQUIRE_SERVICES=1``.
    """
    reason = orthanc_missing_reason()
    if reason is not None:
        service_missing(reason)
    server = OrthancServer()
    try:
        server.__enter__()
    except OrthancStartError as error:
        service_missing(str(error))
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


# --- other fixtures ---


@pytest.fixture(autouse=True)
def _scan_settings(settings: Any, tmp_path: Any) -> None:
    # Scans run inline (no thread outliving the test's transaction), and only under the test's own folder.
    settings.MEDBROKER_SCAN_IN_THREAD = False
    settings.MEDBROKER_SCAN_ROOTS = [str(tmp_path.resolve())]
    # No PACS listed for stewards unless a test lists one.
    settings.MEDBROKER_DICOMWEB_HOSTS = []


@pytest.fixture
def hospital(steward: Any, tmp_path: Any) -> Any:
    """The institution whose data steward is the ``steward`` fixture; its assigned folder is the test's
    own (the only allowed root), so its steward may scan anything the test writes there."""
    from medbroker.catalog.tests.factories import InstitutionFactory

    return InstitutionFactory(organisation=steward.organisation, scan_folder=str(tmp_path.resolve()))


@pytest.fixture
def dataset(hospital: Any) -> Any:
    """A draft CT dataset of ``hospital``, as a steward registers it before the first scan."""
    from medbroker.catalog.models import Dataset
    from medbroker.catalog.tests.factories import DatasetFactory, body_part, modality

    return DatasetFactory(
        institution=hospital,
        title="흉부 CT 영상",
        title_en="Chest CT images",
        body_part=body_part("colon"),
        modality=modality("ct"),
        annotated_count=100,
        non_annotated_count=200,
        formats=["DICOM"],
        publication=Dataset.Publication.DRAFT,
    )


@pytest.fixture
def other_steward(db: None) -> Any:
    """A data steward of another hospital."""
    from medbroker.accounts.models import Role
    from medbroker.accounts.tests.factories import InstitutionOrganisationFactory, UserFactory
    from medbroker.catalog.tests.factories import InstitutionFactory

    organisation = InstitutionOrganisationFactory(name="대구다른병원")
    InstitutionFactory(organisation=organisation)
    return UserFactory(username="other_steward", organisation=organisation, roles=[Role.DATA_STEWARD])
