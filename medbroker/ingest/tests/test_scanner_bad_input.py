"""Bad input never stops a scan: each broken file is one error with a readable Korean reason, the good
files are counted, and a file that errors keeps the record an earlier scan made of it."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medbroker.ingest import testdata
from medbroker.ingest.scanner import engine
from medbroker.ingest.scanner.engine import ScanOutcome, scan_tree
from medbroker.ingest.scanner.records import FileKind
from medbroker.ingest.scanner.summary import summary_build

NOBODY = 65534
HANGUL = re.compile(r"[가-힣]")

# The reasons a steward reads, by bad file (``bad_files_write`` names); the WFDB one ends with wfdb's message.
REASONS = {
    "empty.dcm": "빈 파일입니다(0바이트).",
    "truncated.dcm": "파일이 중간에 잘렸습니다: DICOM 요소의 길이가 파일 끝을 넘습니다.",
    "not_dicom.dcm": "DICOM 파일이 아닙니다: DICOM 머리말(DICM)도 DICOM 속성도 없습니다.",
    "wrong_endian.dcm": "DICOM 헤더가 손상되었습니다: 값 표현(VR)을 읽을 수 없습니다(바이트 순서가 다를 수 있습니다).",
    "huge_header.dcm": "DICOM 헤더가 너무 큽니다: 1 MiB 안에 영상 데이터가 시작되지 않습니다.",
    "broken.edf": "EDF 신호 헤더가 잘렸습니다.",
    "broken.hea": "WFDB 헤더를 해석할 수 없습니다: ",
    "loop/self": "심볼릭 링크가 상위 폴더를 다시 가리킵니다(순환 링크). 이 폴더는 건너뛰었습니다.",
    "dangling.dcm": "심볼릭 링크가 가리키는 파일이 없습니다.",
}


def summary_of(outcome: ScanOutcome) -> dict[str, Any]:
    return summary_build(outcome.records.values(), errors=outcome.errors, files=outcome.files)


def good_files_write(root: Path, *, slices: int = 3) -> list[str]:
    """A CT series, an EDF+ recording and a WFDB record (.hea + .dat): the files a scan must still count."""
    paths = [
        testdata.dicom_image_write(root / "good" / f"{number}.dcm", instance=number, private=False)
        for number in range(1, slices + 1)
    ]
    paths.append(testdata.edf_write(root / "good" / "eeg.edf", channels=2, seconds=1))
    paths.append(testdata.wfdb_write(root / "good", "rec", channels=2, seconds=1))
    return sorted(path.relative_to(root).as_posix() for path in paths)


def assert_reasons(outcome: ScanOutcome, expected: dict[str, str]) -> None:
    reasons = {error.path: error.reason for error in outcome.errors}
    # Exactly one error per bad file, in path order.
    assert [error.path for error in outcome.errors] == sorted(expected)
    for path, reason in expected.items():
        if reason.endswith(": "):
            assert reasons[path].startswith(reason)
            assert len(reasons[path]) > len(reason)
        else:
            assert reasons[path] == reason
        assert HANGUL.search(reasons[path])


# --- each kind of bad file ---


@pytest.mark.parametrize("workers", [1, 2])
def test_every_bad_file_is_one_error_and_the_scan_goes_on(tmp_path, workers):
    testdata.bad_files_write(tmp_path, huge_bytes=2 * 1024 * 1024)
    good = good_files_write(tmp_path, slices=70 if workers > 1 else 3)

    outcome = scan_tree(tmp_path, workers=workers, max_header_bytes=1024 * 1024)
    summary = summary_of(outcome)

    assert_reasons(outcome, REASONS)
    assert sorted(outcome.records) == sorted([*good, "good/rec.dat"])
    assert summary["instances"] == len(good) - 2
    assert summary["signals"] == {"records": 2, "formats": {"EDF+": 1, "WFDB": 1}}
    # Every regular file reached counts, the bad ones included; links that lead nowhere do not.
    assert outcome.files == len(good) + 1 + 7
    assert summary["errors"] == [error.as_json() for error in outcome.errors]


def test_huge_header_within_the_limit_is_read(tmp_path):
    written = testdata.bad_files_write(tmp_path, huge_bytes=2 * 1024 * 1024)

    outcome = scan_tree(tmp_path, workers=1)

    record = outcome.records[written["huge_header"].name]
    assert "huge_header.dcm" not in {error.path for error in outcome.errors}
    assert record.kind == FileKind.DICOM
    assert record.private_tags == ("0029,xx10@MEDBROKER HUGE",)
    assert record.patient_id == "P0001"


def test_a_dicom_named_file_with_other_content_is_an_error_but_other_names_are_skipped(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    (tmp_path / "scan.dcm").write_bytes(png)
    (tmp_path / "scan.png").write_bytes(png)
    (tmp_path / "notes").write_bytes(b"free text, no suffix")

    outcome = scan_tree(tmp_path, workers=1)

    assert_reasons(outcome, {"scan.dcm": REASONS["not_dicom.dcm"]})
    assert {path: record.kind for path, record in outcome.records.items()} == {
        "scan.png": FileKind.OTHER,
        "notes": FileKind.OTHER,
    }


# --- files that go away or cannot be read ---


def test_file_vanishing_between_walk_and_read(tmp_path):
    good = good_files_write(tmp_path)
    victim = tmp_path / good[0]

    def progress(done: int, total: int) -> None:
        # Called once the walk has listed the files and before the first is read.
        if done == 0 and victim.exists():
            victim.unlink()

    outcome = scan_tree(tmp_path, workers=1, progress=progress)

    assert_reasons(outcome, {good[0]: "스캔하는 동안 파일이 없어졌습니다."})
    assert good[0] not in outcome.records
    assert summary_of(outcome)["instances"] == 2


def test_folder_vanishing_during_the_walk(tmp_path, monkeypatch):
    good_files_write(tmp_path)
    testdata.dicom_image_write(tmp_path / "gone" / "1.dcm")
    scandir = os.scandir

    def vanishing(path: Any) -> Any:
        if str(path).endswith("/gone"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return scandir(path)

    monkeypatch.setattr(engine.os, "scandir", vanishing)

    outcome = scan_tree(tmp_path, workers=1)

    assert_reasons(outcome, {"gone": "스캔하는 동안 파일이 없어졌습니다."})
    assert summary_of(outcome)["instances"] == 3


def test_file_that_now_errors_keeps_its_previous_record(tmp_path):
    good = good_files_write(tmp_path)
    first = scan_tree(tmp_path, workers=1)
    broken = tmp_path / good[1]
    data = broken.read_bytes()
    broken.write_bytes(data[:700])  # cut inside the header

    again = scan_tree(tmp_path, workers=1, previous=first.records)

    assert_reasons(again, {good[1]: REASONS["truncated.dcm"]})
    assert again.records[good[1]] == first.records[good[1]]
    assert (again.new, again.changed, again.removed) == ([], [], [])
    assert summary_of(again)["instances"] == summary_of(first)["instances"] == 3


def test_file_that_errors_after_growing_keeps_its_previous_record(tmp_path):
    good = good_files_write(tmp_path)
    first = scan_tree(tmp_path, workers=1)
    (tmp_path / "good" / "eeg.edf").write_bytes(b"0       " + b"garbage" * 10)

    again = scan_tree(tmp_path, workers=1, previous=first.records)

    assert [error.path for error in again.errors] == ["good/eeg.edf"]
    assert HANGUL.search(again.errors[0].reason)
    assert again.records["good/eeg.edf"] == first.records["good/eeg.edf"]
    assert sorted(again.records) == sorted([*good, "good/rec.dat"])


@pytest.fixture
def world_readable_root() -> Iterator[Path]:
    """A folder another user may enter (pytest's own temporary folders are private to their owner)."""
    base = Path(tempfile.mkdtemp(prefix="medbroker-scan-"))
    base.chmod(0o755)
    try:
        yield base / "archive"
    finally:
        for folder, dirs, _files in os.walk(base):
            for name in dirs:
                (Path(folder) / name).chmod(0o755)
        shutil.rmtree(base)


def scan_as_nobody(root: Path) -> dict[str, Any]:
    """Scan ``root`` in a child process that has become ``nobody``; return its errors and record paths.

    The child is forked, not started afresh: the interpreter and the project may lie where ``nobody``
    cannot read (a root-owned home), and everything the scan needs is already imported here.
    """
    import pydicom  # noqa: F401 (imported before the fork, so the child needs no file access for it)
    import wfdb  # noqa: F401

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome = scan_tree(root, workers=1)
            result = {
                "errors": [error.as_json() for error in outcome.errors],
                "records": sorted(outcome.records),
            }
        except BaseException as error:
            result = {"crash": repr(error)}
            status = 1
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(json.dumps(result).encode("utf-8"))
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_unreadable_file_and_folder(world_readable_root):
    root = world_readable_root
    good = good_files_write(root)
    locked = testdata.dicom_image_write(root / "locked" / "1.dcm")
    secret = testdata.dicom_image_write(root / "secret.dcm")
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
        for name in files:
            (Path(folder) / name).chmod(0o644)
    secret.chmod(0o000)
    locked.parent.chmod(0o000)

    if os.geteuid() == 0:
        # Root reads everything: the scan runs as nobody, as the web server's user would.
        result = scan_as_nobody(root)
    else:
        outcome = scan_tree(root, workers=1)
        result = {"errors": [error.as_json() for error in outcome.errors], "records": sorted(outcome.records)}

    assert result == {
        "errors": [
            {"path": "locked", "reason": "폴더를 읽을 권한이 없습니다."},
            {"path": "secret.dcm", "reason": "파일을 읽을 권한이 없습니다."},
        ],
        "records": sorted([*good, "good/rec.dat"]),
    }
