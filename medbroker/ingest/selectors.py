"""Reads of the ingest step: who may see a dataset's scans, its jobs, and the de-identification report.

The data stewards of the dataset's institution and operators manage scans; auditors read everything
(read-only). For anyone else a dataset's scans do not exist (404), whether or not the dataset is published.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Role
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import user_can_manage_institution
from medbroker.core.errors import NotFoundError
from medbroker.ingest.models import ScanJob, ScannedFile, ScanProfile
from medbroker.ingest.scanner.deid import DeidPolicy, finding_label, policy_from_profile
from medbroker.ingest.scanner.records import FileKind, FileRecord
from medbroker.ingest.scanner.summary import UNREADABLE, summary_build, summary_fingerprint

# Paths shown per finding: enough to find the pattern in the data, few enough to read.
REPORT_EXAMPLES = 5


def dataset_scan_manageable(*, user: Any, dataset: Dataset) -> bool:
    """Whether ``user`` may change the scan settings, start scans and see their files: operators, and the
    data stewards of the dataset's own institution."""
    return user_can_manage_institution(user=user, institution=dataset.institution)


def datasets_scan_visible_to(*, user: Any) -> QuerySet[Dataset]:
    """Datasets whose scans ``user`` may read: all for operators and auditors, their own institution's for
    data stewards, none for anyone else."""
    datasets = Dataset.objects.select_related("institution__organisation", "body_part", "modality")
    if user is None or not user.is_authenticated:
        return datasets.none()
    if user.has_role(Role.OPERATOR, Role.AUDITOR):
        return datasets.all()
    if user.has_role(Role.DATA_STEWARD) and user.organisation_id is not None:
        return datasets.filter(institution__organisation_id=user.organisation_id)
    return datasets.none()


def dataset_scan_get(*, user: Any, pk: int) -> Dataset:
    dataset = datasets_scan_visible_to(user=user).filter(pk=pk).first()
    if dataset is None:
        raise NotFoundError("dataset_not_found", _("데이터셋을 찾을 수 없습니다."))
    return dataset


def scan_profile_of(*, dataset: Dataset) -> ScanProfile:
    """The dataset's scan settings; an unsaved one with the defaults when none were saved yet (reading
    must not write)."""
    return ScanProfile.objects.filter(dataset=dataset).first() or ScanProfile(dataset=dataset)


def scan_jobs_of(*, dataset: Dataset) -> QuerySet[ScanJob]:
    """The dataset's scan jobs, newest first."""
    return (
        ScanJob.objects.filter(dataset=dataset).select_related("requested_by").order_by("-created_at", "-pk")
    )


def scan_job_active(*, dataset: Dataset) -> ScanJob | None:
    return (
        scan_jobs_of(dataset=dataset)
        .filter(status__in=[ScanJob.Status.QUEUED, ScanJob.Status.RUNNING])
        .first()
    )


def scan_job_get(*, user: Any, pk: int) -> ScanJob:
    """One job, or 404 for anyone who may not read its dataset's scans."""
    job = (
        ScanJob.objects.select_related("dataset__institution__organisation", "requested_by")
        .filter(pk=pk, dataset__in=datasets_scan_visible_to(user=user))
        .first()
    )
    if job is None:
        raise NotFoundError("scan_job_not_found", _("스캔 작업을 찾을 수 없습니다."))
    return job


@dataclass(frozen=True)
class DeidRow:
    code: str
    label: str
    files: int
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeidentificationReport:
    rows: list[DeidRow]
    files_with_findings: int
    files_scanned: int
    policy: DeidPolicy


def scan_job_last_succeeded(*, dataset: Dataset) -> ScanJob | None:
    """The dataset's last successful scan: the one that wrote its file rows as they are now."""
    return (
        ScanJob.objects.filter(dataset=dataset, status=ScanJob.Status.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .first()
    )


def _findings_from_rows(
    dataset: Dataset, policy: DeidPolicy
) -> tuple[Counter[str], dict[str, list[str]], int]:
    """Files per finding, example paths and files with findings of every stored row judged under ``policy``,
    by the same ``summary_build`` a scan uses (label and other files carry no headers to judge)."""
    rows = (
        ScannedFile.objects.filter(dataset=dataset)
        .exclude(kind__in=(FileKind.LABEL, FileKind.OTHER))
        .values_list("record", flat=True)
    )
    records = [FileRecord.from_json(data) for data in rows.iterator(chunk_size=1000)]
    deid = summary_build(records, policy=policy)["deid"]
    return Counter(deid["findings"]), dict(deid["examples"]), int(deid["files_with_findings"])


def deidentification_report(*, dataset: Dataset) -> DeidentificationReport:
    """The findings of the stored file rows, judged by the dataset's CURRENT scan settings.

    A change of the settings (a private tag added to the safe list, a retain option ticked) shows here at
    once, without reading any file again. The catalogue's de-identification state (``Dataset.
    deidentification``, which decides whether the dataset may be published) changes only with the next scan,
    so the two can differ until then.

    The last successful scan stored its findings with the fingerprint of the settings that judged them; its
    rows are the dataset's rows as they are now (only a successful scan writes them), so while the settings
    keep that fingerprint its findings are the answer and no row is read. Otherwise every row is judged
    again. Files that scan could not read are findings whatever the settings ("unreadable"), taken from it
    either way.
    """
    profile = scan_profile_of(dataset=dataset)
    policy = policy_from_profile(profile)
    last = scan_job_last_succeeded(dataset=dataset)
    summary = last.summary if last is not None and isinstance(last.summary, dict) else {}
    stored = summary.get("deid") if isinstance(summary.get("deid"), dict) else None
    scanned = ScannedFile.objects.filter(dataset=dataset).count()
    fingerprint = summary_fingerprint(policy, tuple(profile.label_patterns or ()))
    if stored is not None and summary.get("fingerprint") == fingerprint:
        files = Counter({str(code): int(count) for code, count in (stored.get("findings") or {}).items()})
        examples = {str(code): list(paths) for code, paths in (stored.get("examples") or {}).items()}
        with_findings = int(stored.get("files_with_findings") or 0)
    else:
        files, examples, with_findings = _findings_from_rows(dataset, policy)
        unreadable = int(((stored or {}).get("findings") or {}).get(UNREADABLE) or 0)
        if unreadable:
            files[UNREADABLE] = unreadable
            examples[UNREADABLE] = list(((stored or {}).get("examples") or {}).get(UNREADABLE) or [])
            with_findings += unreadable
    report_rows = [
        DeidRow(
            code=code,
            label=str(finding_label(code)),
            files=count,
            examples=examples.get(code, [])[:REPORT_EXAMPLES],
        )
        for code, count in sorted(files.items(), key=lambda item: (-item[1], item[0]))
        if count
    ]
    return DeidentificationReport(
        rows=report_rows, files_with_findings=with_findings, files_scanned=scanned, policy=policy
    )


def dataset_folders(dataset_ids: list[int]) -> dict[int, str]:
    """The server folders of the datasets that have one (``ScanProfile.source_path``), by dataset id: what a
    workspace binds read-only for a granted dataset. Datasets kept only in a PACS have none."""
    profiles = ScanProfile.objects.filter(dataset_id__in=dataset_ids).exclude(source_path="")
    return {profile.dataset_id: profile.source_path for profile in profiles}
