"""``medbroker scan PATH [--dataset ID] [--json] [--workers N]``: scan a folder of DICOM, EDF and WFDB files.

Without ``--dataset`` the scan stands alone: its records are kept in an index file under the platform's
``var/`` folder (one per scanned folder), so the next scan of the same folder reads only what changed.
With ``--dataset`` it runs as a scan job of that dataset: the files are recorded with the dataset and
its key information and de-identification state are updated, exactly as a scan started from the page.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from medbroker.ingest.scanner.deid import finding_label
from medbroker.ingest.scanner.engine import scan_and_summarise
from medbroker.ingest.scanner.records import FileRecord
from medbroker.ingest.scanner.summary import summary_fingerprint

INDEX_VERSION = 1


def index_path_for(root: str) -> Path:
    digest = hashlib.sha256(root.encode("utf-8")).hexdigest()[:20]
    return Path(settings.VAR_DIR) / "scan-index" / f"{digest}.pickle"


@dataclass
class ScanIndex:
    """What the command keeps of a folder's last scan: its records and the summary made of them."""

    records: dict[str, FileRecord] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    fingerprint: str = ""


def index_load(path: Path, root: str) -> ScanIndex:
    """The folder's last scan, or an empty index when it is missing, stale or unreadable."""
    try:
        with path.open("rb") as handle:
            # The index is written by this command into the platform's own var/ folder, never taken from
            # a user: unpickling it is as safe as reading the platform's database.
            data = pickle.load(handle)  # noqa: S301
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return ScanIndex()
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or data.get("root") != root:
        return ScanIndex()
    records = data.get("records")
    if not isinstance(records, dict):
        return ScanIndex()
    return ScanIndex(
        records=records, summary=data.get("summary"), fingerprint=str(data.get("fingerprint", ""))
    )


def index_save(path: Path, root: str, index: ScanIndex) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    data = {
        "version": INDEX_VERSION,
        "root": root,
        "records": index.records,
        "summary": index.summary,
        "fingerprint": index.fingerprint,
    }
    with partial.open("wb") as handle:
        pickle.dump(data, handle, protocol=5)
    # Replace in one step: a scan interrupted while writing leaves the previous index whole.
    os.replace(partial, path)


class _Bar:
    """A terminal progress bar fed by the scan's ``progress(done, total)`` calls."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm[Any] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit="파일", desc="헤더 읽기", dynamic_ncols=True, leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Command(BaseCommand):
    help = "폴더의 DICOM·EDF·WFDB 파일 헤더를 읽어 주요 정보와 비식별 점검 결과를 만듭니다."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="스캔할 폴더")
        parser.add_argument("--dataset", type=int, help="결과를 반영할 데이터셋 번호")
        parser.add_argument("--json", action="store_true", help="요약을 JSON으로 출력")
        parser.add_argument("--workers", type=int, default=0, help="헤더를 읽을 프로세스 수(0: CPU 코어 수)")
        parser.add_argument(
            "--full", action="store_true", help="지난 스캔 기록을 쓰지 않고 모든 파일을 다시 읽기"
        )
        parser.add_argument("--no-progress", action="store_true", help="진행 막대를 표시하지 않기")

    def handle(self, *args: Any, **options: Any) -> None:
        root = os.path.abspath(options["path"])
        if not os.path.isdir(root):
            raise CommandError(f"폴더가 아닙니다: {root}")
        bar = _Bar(enabled=not options["no_progress"])
        try:
            if options["dataset"] is not None:
                summary = self._scan_dataset(root, options["dataset"], options["workers"], bar)
            else:
                summary = self._scan_folder(root, options["workers"], options["full"], bar)
        finally:
            bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(summary_text(summary))

    def _scan_folder(self, root: str, workers: int, full: bool, bar: _Bar) -> dict[str, Any]:
        path = index_path_for(root)
        previous = ScanIndex() if full else index_load(path, root)
        scan = scan_and_summarise(
            root,
            previous=previous.records,
            previous_summary=previous.summary,
            previous_fingerprint=previous.fingerprint,
            workers=workers or settings.MEDBROKER_SCAN_WORKERS,
            max_header_bytes=settings.MEDBROKER_SCAN_MAX_HEADER_BYTES,
            progress=bar,
        )
        outcome = scan.outcome
        summary = dict(scan.summary)
        if not scan.reused or previous.summary is None:
            fingerprint = summary_fingerprint(None)
            index_save(
                path, root, ScanIndex(records=outcome.records, summary=summary, fingerprint=fingerprint)
            )
        summary["changes"] = {
            "new": len(outcome.new),
            "changed": len(outcome.changed),
            "removed": len(outcome.removed),
            "unchanged": outcome.unchanged,
        }
        return summary

    def _scan_dataset(self, root: str, dataset_id: int, workers: int, bar: _Bar) -> dict[str, Any]:
        from medbroker.catalog.models import Dataset
        from medbroker.ingest.models import ScanJob, ScanSource
        from medbroker.ingest.services.scans import scan_job_create, scan_job_run

        dataset = Dataset.objects.filter(pk=dataset_id).first()
        if dataset is None:
            raise CommandError(f"데이터셋 {dataset_id}번이 없습니다.")
        job = scan_job_create(dataset=dataset, source=ScanSource.FOLDER, location=root)
        job = scan_job_run(job_id=job.pk, progress=bar, workers=workers or None)
        if job.status != ScanJob.Status.SUCCEEDED:
            raise CommandError(f"스캔에 실패했습니다: {job.error_message}")
        return dict(job.summary)


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as the lines a person reads in a terminal."""
    lines = [
        f"파일 {summary['files']:,}개 · DICOM {summary['instances']:,}건 · 환자 {summary['patients']:,}명 · "
        f"검사(study) {summary['studies']:,}건 · 시리즈 {summary['series']:,}건",
    ]
    if summary.get("modalities"):
        lines.append("모달리티: " + ", ".join(f"{k} {v:,}" for k, v in summary["modalities"].items()))
    signals = summary.get("signals") or {}
    if signals.get("records"):
        lines.append(
            f"신호 기록 {signals['records']:,}건: "
            + ", ".join(f"{k} {v:,}" for k, v in signals["formats"].items())
        )
    cases = summary.get("cases") or {}
    if cases:
        lines.append(
            f"사례 {cases['total']:,}건 (Annotation {cases['annotated']:,} · Non-Annotation {cases['non_annotated']:,})"
        )
    changes = summary.get("changes")
    if changes:
        lines.append(
            f"새 파일 {changes['new']:,} · 바뀐 파일 {changes['changed']:,} · 없어진 파일 {changes['removed']:,} · "
            f"그대로 {changes['unchanged']:,}"
        )
    deid = summary.get("deid") or {}
    if deid.get("files_with_findings"):
        lines.append(f"비식별 점검: 발견 사항이 있는 파일 {deid['files_with_findings']:,}개")
        for code, count in deid["findings"].items():
            lines.append(f"  - {finding_label(code)} [{code}]: {count:,}")
    else:
        lines.append("비식별 점검: 발견 사항 없음")
    errors = summary.get("errors") or []
    if errors:
        lines.append(f"오류 {len(errors):,}건:")
        lines.extend(f"  - {error['path']}: {error['reason']}" for error in errors[:20])
        if len(errors) > 20:
            lines.append(f"  … 외 {len(errors) - 20:,}건 (--json으로 전체 확인)")
    return "\n".join(lines)
