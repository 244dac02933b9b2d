from __future__ import annotations

import factory

from medbroker.accounts.tests.factories import InstitutionOrganisationFactory
from medbroker.catalog.models import BodyPart, Dataset, DataType, Institution, Modality, Sensitivity


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


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    organisation = factory.SubFactory(InstitutionOrganisationFactory)
    region = "대구"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    institution = factory.SubFactory(InstitutionFactory)
    title = factory.Sequence(lambda n: f"위 내시경 영상 {n}")
    title_en = factory.Sequence(lambda n: f"Gastric endoscopy images {n}")
    body_part = factory.SubFactory(BodyPartFactory)
    modality = factory.SubFactory(ModalityFactory)
    data_type = DataType.IMAGING
    annotated_count = 10550
    non_annotated_count = 10950
    formats = factory.LazyFunction(lambda: ["DICOM"])
    sensitivity = Sensitivity.STANDARD
    publication = Dataset.Publication.PUBLISHED
