from __future__ import annotations

import factory

from medbroker.catalog.tests.factories import DatasetFactory
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile, ScanSource
from medbroker.ingest.scanner.records import FileKind


class ScanProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScanProfile
        django_get_or_create = ("dataset",)

    dataset = factory.SubFactory(DatasetFactory)


class ScanJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScanJob

    dataset = factory.SubFactory(DatasetFactory)
    source = ScanSource.FOLDER
    location = "/srv/medbroker/datasets/example"
    status = ScanJob.Status.QUEUED


class ScannedFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScannedFile

    dataset = factory.SubFactory(DatasetFactory)
    source = ScanSource.FOLDER
    path = factory.Sequence(lambda n: f"P{n:04d}/CT/{n:04d}.dcm")
    size = 1024
    mtime_ns = 1_700_000_000_000_000_000
    kind = FileKind.DICOM
    record = factory.LazyAttribute(lambda o: {"path": o.path, "kind": o.kind, "size": o.size})
