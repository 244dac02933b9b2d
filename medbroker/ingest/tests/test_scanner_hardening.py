"""The header reader at its edges: element boundaries at the end of a read, private sequences of undefined
length, hostile nesting, non-finite EDF fields, links out of the allowed folders, unreadable files as
findings, and the walk's progress before any header is read."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medbroker.ingest import testdata
from medbroker.ingest.scanner import engine
from medbroker.ingest.scanner.engine import REASON_OUTSIDE, file_read, scan_tree
from medbroker.ingest.scanner.headers import FIRST_READ_BYTES, MAX_SEQUENCE_DEPTH
from medbroker.ingest.scanner.records import FileRecord, ScanError
from medbroker.ingest.scanner.summary import summary_build


def read(path: Path) -> FileRecord | ScanError:
    return file_read(engine._Candidate(str(path), path.name, path.stat().st_size, 0), 64 * 1024 * 1024)


def element_offset(data: bytes, tag: bytes) -> int:
    offset = data.find(tag, 132)
    assert offset > 0
    return offset


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_an_element_that_starts_exactly_where_the_first_read_ends_is_still_read(
    tmp_path: Path, implicit: bool
) -> None:
    # Given a file whose private filler ends exactly at the end of the first read, PatientName just after it
    path = tmp_path / "boundary.dcm"
    syntax = pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian
    testdata.dicom_image_write(
        path,
        modality="CT",
        transfer_syntax=syntax,
        identifying={"PatientName": "HONG^GILDONG"},
        private=False,
    )
    dataset = pydicom.dcmread(path)
    dataset.private_block(0x0009, "FILLER", create=True).add_new(0x10, "OB", b"\0" * 2)
    dataset.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    name_at = element_offset(data, struct.pack("<HH", 0x0010, 0x0010))
    filler = dataset[0x00091010]
    filler.value = b"\0" * (len(filler.value) + FIRST_READ_BYTES - name_at)
    dataset.save_as(path, enforce_file_format=True)
    assert element_offset(path.read_bytes(), struct.pack("<HH", 0x0010, 0x0010)) == FIRST_READ_BYTES

    # When the fast reader reads it
    record = read(path)

    # Then the element after the boundary is seen, as pydicom sees it
    assert isinstance(record, FileRecord)
    assert (record.reader, record.identifying, record.patient_id) == ("fast", ("PatientName",), "P0001")
    assert "0009,xx10@FILLER" in record.private_tags


def test_a_private_sequence_of_undefined_length_is_a_private_tag(tmp_path: Path) -> None:
    path = tmp_path / "private-sequence.dcm"
    testdata.dicom_image_write(path, modality="MR", private=False)
    dataset = pydicom.dcmread(path)
    item = Dataset()
    item.add_new(0x00090010, "LO", "ACME 1")
    item.add_new(0x00091001, "LO", "inside")
    dataset.private_block(0x0029, "ACME 1", create=True).add_new(0x01, "SQ", Sequence([item]))
    dataset[0x00291001].is_undefined_length = True
    dataset.save_as(path, enforce_file_format=True)

    record = read(path)

    assert isinstance(record, FileRecord)
    assert (record.reader, record.private_tags) == ("fast", ("0029,xx01@ACME 1",))


def _nested_sequences(depth: int) -> bytes:
    # (0040,0275) RequestAttributesSequence nested in its own items, each of undefined length.
    opening = struct.pack("<HH2sHI", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF) + struct.pack(
        "<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF
    )
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return opening * depth + closing * depth


@pytest.mark.parametrize("depth", [3, MAX_SEQUENCE_DEPTH + 1, 5000])
def test_nesting_deeper_than_any_real_file_is_one_error_not_a_crash(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "nested.dcm"
    testdata.dicom_image_write(path, modality="CT", pixel_data=False, private=False)
    data = path.read_bytes()
    # Append the nested sequence after the last element (group 0040 sorts after the image's groups ≤ 0028).
    path.write_bytes(data + _nested_sequences(depth))

    record = read(path)

    if depth <= MAX_SEQUENCE_DEPTH:
        assert isinstance(record, FileRecord)
        assert "RequestAttributesSequence" in record.identifying
    else:
        assert record == ScanError(
            "nested.dcm",
            f"DICOM 헤더가 손상되었습니다: 시퀀스가 {MAX_SEQUENCE_DEPTH}단계보다 깊게 중첩되어 있습니다.",
        )


@pytest.mark.parametrize("duration", [b"nan     ", b"inf     ", b"-1      "])
def test_an_edf_with_a_record_duration_that_is_not_a_number_is_one_error(
    tmp_path: Path, duration: bytes
) -> None:
    path = testdata.edf_write(tmp_path / "eeg.edf", channels=2, sampling_hz=128, seconds=2)
    data = bytearray(path.read_bytes())
    data[244:252] = duration
    path.write_bytes(bytes(data))

    record = read(path)

    assert record == ScanError("eeg.edf", "EDF 헤더의 데이터 레코드 길이(초)가 올바른 수가 아닙니다.")


def test_a_link_out_of_the_allowed_folders_is_not_followed_when_confined(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    testdata.dicom_image_write(root / "inside.dcm", modality="CT", pixel_data=False)
    testdata.dicom_image_write(outside / "secret.dcm", modality="CT", pixel_data=False)
    (root / "inside-link").symlink_to(root / "inside.dcm")
    (root / "escape").symlink_to(outside, target_is_directory=True)

    confined = scan_tree(root, workers=1, confine_to=[str(root)])
    followed = scan_tree(root, workers=1)

    assert sorted(confined.records) == ["inside-link", "inside.dcm"]
    assert [error.as_json() for error in confined.errors] == [{"path": "escape", "reason": REASON_OUTSIDE}]
    assert sorted(followed.records) == ["escape/secret.dcm", "inside-link", "inside.dcm"]
    assert followed.errors == []


def test_files_that_could_not_be_read_are_findings(tmp_path: Path) -> None:
    testdata.dicom_image_write(tmp_path / "good.dcm", modality="CT", pixel_data=False, private=False)
    (tmp_path / "a-empty.dcm").write_bytes(b"")
    (tmp_path / "b-empty.dcm").write_bytes(b"")

    outcome = scan_tree(tmp_path, workers=1)
    summary = summary_build(outcome.records.values(), errors=outcome.errors, files=outcome.files)

    assert summary["deid"] == {
        "files_with_findings": 2,
        "findings": {"unreadable": 2},
        "examples": {"unreadable": ["a-empty.dcm", "b-empty.dcm"]},
    }


def test_the_walk_reports_progress_before_any_header_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(5):
        (tmp_path / f"note-{index}.txt").write_text("x")
    monkeypatch.setattr(engine, "WALK_PROGRESS_EVERY", 2)
    calls: list[tuple[int, int]] = []

    scan_tree(tmp_path, workers=1, progress=lambda done, total: calls.append((done, total)))

    assert calls == [(0, 2), (0, 4), (0, 0)]


def test_a_file_a_reader_chokes_on_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    testdata.dicom_image_write(tmp_path / "odd.dcm", modality="CT", pixel_data=False)

    def broken(*args: object, **kwargs: object) -> FileRecord:
        raise KeyError("surprise")

    monkeypatch.setattr(engine, "dicom_record_read", broken)

    outcome = scan_tree(tmp_path, workers=1)

    assert [error.as_json() for error in outcome.errors] == [
        {"path": "odd.dcm", "reason": "파일을 읽는 중 오류가 발생했습니다: KeyError: 'surprise'"}
    ]
    assert os.path.exists(tmp_path / "odd.dcm")
