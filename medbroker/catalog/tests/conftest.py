"""A small catalogue shared by the catalogue's tests: two hospitals, four published datasets, one draft."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from medbroker.accounts.models import Organisation
from medbroker.accounts.tests.factories import InstitutionOrganisationFactory
from medbroker.catalog.models import Dataset, Institution, Sensitivity
from medbroker.catalog.tests.factories import DatasetFactory, InstitutionFactory, body_part, modality


@dataclass(frozen=True)
class Catalogue:
    gana: Institution
    dara: Institution
    stomach_endoscopy: Dataset
    colon_ct: Dataset
    breast_mri: Dataset
    heart_ecg: Dataset
    colon_endoscopy_draft: Dataset


def institution(name: str, name_en: str, organisation: Organisation | None = None) -> Institution:
    organisation = organisation or InstitutionOrganisationFactory(name=name, name_en=name_en)
    return InstitutionFactory(organisation=organisation)


@pytest.fixture
def catalogue(db: None) -> Catalogue:
    gana = institution("대구가나병원", "Daegu Gana Hospital")
    dara = institution("대구다라병원", "Daegu Dara Hospital")
    return Catalogue(
        gana=gana,
        dara=dara,
        stomach_endoscopy=DatasetFactory(
            institution=gana,
            title="위 내시경 영상",
            title_en="Gastric endoscopy images",
            body_part=body_part("stomach"),
            modality=modality("endoscopy"),
            annotated_count=10550,
            non_annotated_count=10950,
            formats=["DICOM", "JPEG"],
            sensitivity=Sensitivity.STANDARD,
        ),
        colon_ct=DatasetFactory(
            institution=gana,
            title="대장 CT 영상",
            title_en="Colon CT images",
            body_part=body_part("colon"),
            modality=modality("ct"),
            annotated_count=500,
            non_annotated_count=1500,
            sensitivity=Sensitivity.HIGH,
        ),
        breast_mri=DatasetFactory(
            institution=gana,
            title="유방 MRI 영상",
            title_en="Breast MRI images",
            body_part=body_part("breast"),
            modality=modality("mri"),
            annotated_count=0,
            non_annotated_count=400,
            sensitivity=Sensitivity.HIGH,
        ),
        heart_ecg=DatasetFactory(
            institution=dara,
            title="12유도 심전도",
            title_en="12-lead ECG",
            body_part=body_part("heart"),
            modality=modality("ecg"),
            annotated_count=2000,
            non_annotated_count=8000,
            formats=["WFDB"],
            sensitivity=Sensitivity.LOW,
            is_illustrative=True,
        ),
        colon_endoscopy_draft=DatasetFactory(
            institution=dara,
            title="대장 내시경 영상",
            title_en="Colonoscopy images",
            body_part=body_part("colon"),
            modality=modality("endoscopy"),
            annotated_count=5000,
            non_annotated_count=11000,
            publication=Dataset.Publication.DRAFT,
        ),
    )
