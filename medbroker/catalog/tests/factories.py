from __future__ import annotations

from typing import Any

import factory

from medbroker.accounts.tests.factories import InstitutionOrganisationFactory
from medbroker.catalog.models import BodyPart, Dataset, DataType, Institution, Modality, Sensitivity
from medbroker.catalog.services import dataset_search_document_refresh


class BodyPartFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BodyPart
        django_get_or_create = ("code",)

    code = "stomach"
    name = "위"
    name_en = "Stomach"


class ModalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Modality
        django_get_or_create = ("code",)

    code = "endoscopy"
    name = "내시경"
    name_en = "Endoscopy"
    data_type = DataType.IMAGING
    dicom_code = "ES"


def body_part(code: str) -> BodyPart:
    """The body parts the tests use, with the names the demo gives them."""
    names = {
        "stomach": ("위", "Stomach", 10),
        "colon": ("대장", "Colon", 20),
        "breast": ("유방", "Breast", 30),
        "heart": ("심장", "Heart", 90),
    }
    name, name_en, order = names[code]
    return BodyPartFactory(code=code, name=name, name_en=name_en, order=order)


def modality(code: str) -> Modality:
    specs = {
        "endoscopy": ("내시경", "Endoscopy", DataType.IMAGING, "ES", 10),
        "ct": ("CT", "CT", DataType.IMAGING, "CT", 20),
        "mri": ("MRI", "MRI", DataType.IMAGING, "MR", 40),
        "ecg": ("ECG", "Electrocardiography (ECG)", DataType.TIME_SERIES, "ECG", 80),
    }
    name, name_en, data_type, dicom_code, order = specs[code]
    return ModalityFactory(
        code=code, name=name, name_en=name_en, data_type=data_type, dicom_code=dicom_code, order=order
    )


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    organisation = factory.SubFactory(InstitutionOrganisationFactory)
    region = "대구"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset
        skip_postgeneration_save = True

    institution = factory.SubFactory(InstitutionFactory)
    title = factory.Sequence(lambda n: f"위 내시경 영상 {n}")
    title_en = factory.Sequence(lambda n: f"Gastric endoscopy images {n}")
    body_part = factory.SubFactory(BodyPartFactory)
    modality = factory.SubFactory(ModalityFactory)
    data_type = factory.LazyAttribute(lambda o: o.modality.data_type)
    annotated_count = 10550
    non_annotated_count = 10950
    formats = factory.LazyFunction(lambda: ["DICOM"])
    sensitivity = Sensitivity.STANDARD
    publication = Dataset.Publication.PUBLISHED

    @factory.post_generation
    def refresh_search_document(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        # The services keep the search text current; datasets made directly here need it too.
        if create:
            dataset_search_document_refresh(self)
