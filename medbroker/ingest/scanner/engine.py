"""The scan: walk a folder, read the headers of new and changed files in parallel, keep the rest.

One process walks the tree (a stat per file, no reads) and compares each file's size and modification
time with the previous scan's record; only new or changed files are read, by worker processes in chunks.
Everything that can go wrong with a file (unreadable, vanished, truncated, not what its name says, a
symbolic-link loop) becomes one ``ScanError`` with a readable reason and the scan goes on; a file that
errors keeps the record an earlier scan made of it.
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from medbroker.ingest.scanner.deid import DeidPolicy
from medbroker.ingest.scanner.headers import (
    DEFAULT_MAX_HEADER_BYTES,
    FIRST_READ_BYTES,
    DicomReadError,
    dicom_record_read,
    dicom_record_read_without_preamble,
    has_dicom_preamble,
)
from medbroker.ingest.scanner.records import FileKind, FileRecord, ScanError
from medbroker.ingest.scanner.signals import SignalReadError, edf_record_read, wfdb_record_read
from medbroker.ingest.scanner.summary import summary_build, summary_fingerprint

Progress = Callable[[int, int], None]
WALK_PROGRESS_EVERY = 5000

# Files never read as DICOM: the companions of WFDB records and common documents. A file of another
# name without the DICM preamble is counted and skipped, unless its name says it is DICOM.
NOT_DICOM_SUFFIXES = frozenset(
    {
        ".dat", ".atr", ".qrs", ".ecg", ".xws", ".mat", ".csv", ".tsv", ".txt", ".md", ".json", ".xml",
        ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pdf", ".zip", ".gz", ".nii", ".xlsx", ".docx",
        ".hwp", ".html", ".py", ".ipynb", ".npy", ".npz", ".h5", ".pkl",
    }
)  # fmt: skip
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})
EDF_SUFFIXES = frozenset({".edf", ".bdf", ".rec"})

REASON_PERMISSION = "파일을 읽을 권한이 없습니다."
REASON_VANISHED = "스캔하는 동안 파일이 없어졌습니다."
REASON_DANGLING = "심볼릭 링크가 가리키는 파일이 없습니다."
REASON_LOOP = "심볼릭 링크가 상위 폴더를 다시 가리킵니다(순환 링크). 이 폴더는 건너뛰었습니다."
REASON_DIRECTORY_PERMISSION = "폴더를 읽을 권한이 없습니다."
REASON_EMPTY = "빈 파일입니다(0바이트)."
REASON_OUTSIDE = "허용된 보관 위치 밖을 가리키는 링크입니다. 건너뛰었습니다."


@dataclass
class ScanOutcome:
    records: dict[str, FileRecord]
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[ScanError] = field(default_factory=list)
    files: int = 0


@dataclass(slots=True)
class _Candidate:
    path: str
    relative: str
    size: int
    mtime_ns: int


# ---------------------------------------------------------------------------------------------------------
# Reading one file (runs in the worker processes)
# ---------------------------------------------------------------------------------------------------------


def _os_reason(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return REASON_PERMISSION
    if isinstance(error, FileNotFoundError):
        return REASON_VANISHED
    return f"파일을 읽을 수 없습니다: {error.strerror or error}"


def _read_exactly(descriptor: int, size: int) -> bytes:
    """Up to ``size`` more bytes (fewer only at the end of the file)."""
    parts = []
    while size > 0:
        part = os.read(descriptor, size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def file_read(candidate: _Candidate, max_header_bytes: int) -> FileRecord | ScanError:
    """The record of one file, or the reason it could not be read."""
    record = FileRecord(
        path=candidate.relative, kind=FileKind.OTHER, size=candidate.size, mtime_ns=candidate.mtime_ns
    )
    suffix = os.path.splitext(candidate.relative)[1].lower()
    try:
        if suffix == ".hea":
            return wfdb_record_read(candidate.path, record)
        # os.open/os.read rather than open(): no buffered file object per file, a few microseconds saved
        # on each of millions of files.
        descriptor = os.open(candidate.path, os.O_RDONLY)
        try:
            head = os.read(descriptor, FIRST_READ_BYTES)
            if not head:
                return ScanError(candidate.relative, REASON_EMPTY)
            read_more = partial(_read_exactly, descriptor)
            if suffix in EDF_SUFFIXES:
                return edf_record_read(read_more, head, record)
            if has_dicom_preamble(head):
                return dicom_record_read(
                    candidate.path, record, head=head, read_more=read_more, max_header_bytes=max_header_bytes
                )
        finally:
            os.close(descriptor)
        if suffix in DICOM_SUFFIXES:
            return dicom_record_read_without_preamble(candidate.path, record)
        return record
    except (DicomReadError, SignalReadError) as error:
        return ScanError(candidate.relative, str(error))
    except OSError as error:
        return ScanError(candidate.relative, _os_reason(error))
    except MemoryError:
        return ScanError(candidate.relative, "헤더가 너무 커서 읽을 수 없습니다.")
    except Exception as error:  # a reader's bug or a library's surprise must cost one file, not the scan
        return ScanError(
            candidate.relative, f"파일을 읽는 중 오류가 발생했습니다: {type(error).__name__}: {error}"[:300]
        )


def _chunk_read(chunk: list[_Candidate], max_header_bytes: int) -> list[FileRecord | ScanError]:
    return [file_read(candidate, max_header_bytes) for candidate in chunk]


def _chunk_read_star(arguments: tuple[list[_Candidate], int]) -> list[FileRecord | ScanError]:
    return _chunk_read(*arguments)


# ---------------------------------------------------------------------------------------------------------
# Walking
# ---------------------------------------------------------------------------------------------------------


def _inside(path: str, folders: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == folder or real.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)


def _walk(
    root: str, errors: list[ScanError], confine_to: Sequence[str] | None = None
) -> Iterator[tuple[str, str, os.stat_result]]:
    """(absolute path, relative path, stat) of every regular file under ``root``, following symbolic links.

    A directory reached twice through links (same device and inode as one on the current path) is a loop:
    reported once and not entered, so the walk always ends. With ``confine_to``, a link whose target lies
    outside those folders is reported and not followed: a folder a steward may scan must not lead the
    server into files nobody allowed.
    """
    confined = [os.path.realpath(folder) for folder in confine_to] if confine_to is not None else None
    root_stat = os.stat(root)
    stack: list[tuple[str, str, tuple[tuple[int, int], ...]]] = [
        (root, "", ((root_stat.st_dev, root_stat.st_ino),))
    ]
    while stack:
        folder, relative_folder, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except PermissionError:
            errors.append(ScanError(relative_folder or ".", REASON_DIRECTORY_PERMISSION))
            continue
        except FileNotFoundError:
            errors.append(ScanError(relative_folder or ".", REASON_VANISHED))
            continue
        except OSError as error:
            errors.append(ScanError(relative_folder or ".", _os_reason(error)))
            continue
        subfolders = []
        for entry in entries:
            relative = f"{relative_folder}/{entry.name}" if relative_folder else entry.name
            if confined is not None and entry.is_symlink() and not _inside(entry.path, confined):
                errors.append(ScanError(relative, REASON_OUTSIDE))
                continue
            try:
                info = entry.stat()  # follows symbolic links
            except FileNotFoundError:
                errors.append(ScanError(relative, REASON_DANGLING if entry.is_symlink() else REASON_VANISHED))
                continue
            except PermissionError:
                errors.append(ScanError(relative, REASON_PERMISSION))
                continue
            except OSError as error:
                # ELOOP: a link that points at itself through other links.
                errors.append(ScanError(relative, REASON_LOOP if error.errno == 40 else _os_reason(error)))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    errors.append(ScanError(relative, REASON_LOOP))
                    continue
                subfolders.append((entry.path, relative, (*ancestors, key)))
            elif stat.S_ISREG(info.st_mode):
                yield entry.path, relative, info
        # Depth first, in name order: reversed so the first name is taken first.
        stack.extend(reversed(subfolders))


def is_label(name: str, label_patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in label_patterns)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork is the cheapest start and safe in a single-threaded process (the CLI, a Celery prefork child);
    # in a threaded one (the web server) forking could copy a lock another thread holds, so a fresh
    # forkserver process starts the workers instead.
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def workers_resolve(workers: int) -> int:
    if workers > 0:
        return workers
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def scan_tree(
    root: str | Path,
    *,
    previous: Mapping[str, FileRecord] | None = None,
    workers: int = 0,
    label_patterns: Sequence[str] = (),
    max_header_bytes: int | None = None,
    progress: Progress | None = None,
    confine_to: Sequence[str] | None = None,
) -> ScanOutcome:
    """Scan ``root``; ``previous`` is the last scan's records by relative path (empty for a first scan).

    While walking, ``progress(0, files found so far)`` is called every ``WALK_PROGRESS_EVERY`` files, so a
    long walk of a large archive shows (and keeps its job alive) before any header is read.
    """
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise NotADirectoryError(root)
    previous = previous or {}
    limit = max_header_bytes or DEFAULT_MAX_HEADER_BYTES
    outcome = ScanOutcome(records={})
    seen: set[str] = set()
    to_read: list[_Candidate] = []
    for path, relative, info in _walk(root, outcome.errors, confine_to):
        outcome.files += 1
        if progress and outcome.files % WALK_PROGRESS_EVERY == 0:
            progress(0, outcome.files)
        seen.add(relative)
        name = relative.rsplit("/", 1)[-1]
        before = previous.get(relative)
        if label_patterns and is_label(name, label_patterns):
            # Labels are known by name, not read: a change of the patterns re-judges them at once.
            outcome.records[relative] = FileRecord(
                path=relative, kind=FileKind.LABEL, size=info.st_size, mtime_ns=info.st_mtime_ns
            )
            if before is None:
                outcome.new.append(relative)
            elif before.kind != FileKind.LABEL or (before.size, before.mtime_ns) != (
                info.st_size,
                info.st_mtime_ns,
            ):
                outcome.changed.append(relative)
            else:
                outcome.unchanged += 1
            continue
        if (
            before is not None
            and before.kind != FileKind.LABEL
            and before.size == info.st_size
            and before.mtime_ns == info.st_mtime_ns
        ):
            outcome.records[relative] = before
            outcome.unchanged += 1
            continue
        suffix = os.path.splitext(name)[1].lower()
        if suffix in NOT_DICOM_SUFFIXES:
            outcome.records[relative] = FileRecord(
                path=relative, kind=FileKind.OTHER, size=info.st_size, mtime_ns=info.st_mtime_ns
            )
            (outcome.changed if before is not None else outcome.new).append(relative)
            continue
        to_read.append(_Candidate(path, relative, info.st_size, info.st_mtime_ns))
    outcome.removed = sorted(path for path in previous if path not in seen)

    total = len(to_read)
    if progress:
        progress(0, total)
    for result in _read_all(to_read, workers_resolve(workers), limit, progress):
        relative = result.path
        before = previous.get(relative)
        if isinstance(result, ScanError):
            outcome.errors.append(result)
            if before is not None:
                outcome.records[relative] = before
            continue
        outcome.records[relative] = result
        (outcome.changed if before is not None else outcome.new).append(relative)
    outcome.new.sort()
    outcome.changed.sort()
    outcome.errors.sort(key=lambda error: error.path)
    return outcome


@dataclass
class SummarisedScan:
    outcome: ScanOutcome
    summary: dict[str, Any]
    # Whether the summary is the previous one, kept because no file was added, changed or removed.
    reused: bool


def scan_and_summarise(
    root: str | Path,
    *,
    previous: Mapping[str, FileRecord] | None = None,
    previous_summary: dict[str, Any] | None = None,
    previous_fingerprint: str = "",
    policy: DeidPolicy | None = None,
    label_patterns: Sequence[str] = (),
    workers: int = 0,
    max_header_bytes: int | None = None,
    progress: Progress | None = None,
    confine_to: Sequence[str] | None = None,
) -> SummarisedScan:
    """Scan ``root`` and summarise it, rebuilding the summary only when something changed.

    A re-scan that finds every file as it was, under the same policy and label patterns, keeps the previous
    summary with this scan's file count and errors: the aggregates of an unchanged archive cannot change,
    and on a daily re-scan of millions of files recounting them would cost more than the walk itself.
    """
    outcome = scan_tree(
        root,
        previous=previous,
        workers=workers,
        label_patterns=label_patterns,
        max_header_bytes=max_header_bytes,
        progress=progress,
        confine_to=confine_to,
    )
    fingerprint = summary_fingerprint(policy, label_patterns)
    unchanged = not (outcome.new or outcome.changed or outcome.removed)
    errors = [error.as_json() for error in outcome.errors]
    # Errors count as findings (a file that could not be read cannot be cleared): the same errors as last
    # time are part of "nothing changed".
    if (
        previous_summary
        and unchanged
        and previous_fingerprint == fingerprint
        and previous_summary.get("errors") == errors
    ):
        summary = {**previous_summary, "files": outcome.files}
        return SummarisedScan(outcome=outcome, summary=summary, reused=True)
    summary = summary_build(
        outcome.records.values(),
        errors=outcome.errors,
        files=outcome.files,
        policy=policy,
        label_patterns=label_patterns,
    )
    return SummarisedScan(outcome=outcome, summary=summary, reused=False)


def _read_all(
    candidates: list[_Candidate], workers: int, limit: int, progress: Progress | None
) -> Iterator[FileRecord | ScanError]:
    total = len(candidates)
    if not total:
        return
    # Celery's prefork children are daemonic and may not start processes of their own: read inline there.
    if workers <= 1 or total < 64 or multiprocessing.current_process().daemon:
        step = max(1, min(500, total // 100))
        for done, candidate in enumerate(candidates, start=1):
            yield file_read(candidate, limit)
            if progress and (done % step == 0 or done == total):
                progress(done, total)
        return
    # Small chunks: the last one decides when the scan ends, and a large last chunk leaves the other
    # workers idle while one finishes it.
    chunk_size = max(16, min(256, total // (workers * 16) or 1))
    chunks = [(candidates[i : i + chunk_size], limit) for i in range(0, total, chunk_size)]
    done = 0
    with _pool_context().Pool(workers) as pool:
        for results in pool.imap_unordered(_chunk_read_star, chunks):
            yield from results
            done += len(results)
            if progress:
                progress(done, total)
