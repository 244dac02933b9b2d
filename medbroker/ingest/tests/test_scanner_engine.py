"""Scanning a whole archive: exact counts, cases and annotations, re-scans that read only what changed,
the same result with any number of workers, and de-identification findings under each policy."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from medbroker.ingest import testdata
from medbroker.ingest.scanner import engine
from medbroker.ingest.scanner.deid import DeidPolicy
from medbroker.ingest.scanner.engine import ScanOutcome, scan_tree
from medbroker.ingest.scanner.records import FileKind
from medbroker.ingest.scanner.summary import summary_build

LABELS = ["*.label.json"]


def summary_of(outcome: ScanOutcome, **options: Any) -> dict[str, Any]:
    return summary_build(outcome.records.values(), errors=outcome.errors, files=outcome.files, **options)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> testdata.ArchiveManifest:
    """The default archive, shared by the tests that only read it."""
    return testdata.archive_write(tmp_path_factory.mktemp("archive"))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the scanner reads (inline reading, workers=1), in order."""
    read: list[str] = []
    original = engine.file_read

    def counting(candidate: Any, max_header_bytes: int) -> Any:
        read.append(candidate.relative)
        return original(candidate, max_header_bytes)

    monkeypatch.setattr(engine, "file_read", counting)
    return read


# --- a first scan ---


def test_first_scan_counts_exactly(archive):
    outcome = scan_tree(archive.root, workers=1)
    summary = summary_of(outcome)

    assert outcome.errors == []
    assert outcome.files == 36
    assert len(outcome.new) == 36
    assert (outcome.changed, outcome.removed, outcome.unchanged) == ([], [], 0)
    assert summary["files"] == archive.files == 36
    assert summary["instances"] == archive.instances == 29
    assert summary["patients"] == archive.patients == 12
    assert summary["studies"] == archive.studies == 8
    assert summary["series"] == archive.series == 10
    assert summary["modalities"] == archive.modalities
    assert summary["modalities"] == {"CT": 10, "MR": 10, "US": 2, "MG": 2, "ES": 2, "ECG": 2, "SEG": 1}
    assert summary["signals"] == {
        "records": 6,
        "formats": {"DICOM-ECG": 2, "WFDB": 2, "EDF+": 1, "BDF+": 1},
    }
    assert summary["signals"]["formats"] == archive.signal_formats
    assert summary["body_parts"] == {"ABDOMEN": 12, "BRAIN": 10, "BREAST": 2, "COLON": 2}
    assert summary["manufacturers"] == {
        "SIEMENS": 15,
        "GE MEDICAL SYSTEMS": 5,
        "SAMSUNG MEDISON CO., LTD.": 2,
        "HOLOGIC, Inc.": 2,
        "OLYMPUS": 2,
        "MEDBROKER": 1,
    }
    acquisition = summary["acquisition"]
    assert acquisition["ct_slice_thickness_mm"]["values"] == {"1": 5, "5": 5}
    assert acquisition["ct_kvp"]["values"] == {"100": 5, "120": 5}
    assert acquisition["mr_field_strength_t"]["values"] == {"3": 10}
    assert acquisition["sampling_rate_hz"]["values"] == {"256": 2, "500": 4}
    assert acquisition["channels"]["values"] == {"12": 4, "19": 2}
    assert acquisition["duration_s"]["values"] == {"2": 6}
    assert summary["sex"] == archive.sex
    assert sum(summary["sex"].values()) == 12
    assert summary["age_bands"] == archive.age_bands
    assert summary["date_range"] == {"first": archive.date_first, "last": archive.date_last}
    assert summary["cases"] == {"total": 12, "annotated": 1, "non_annotated": 11}
    assert summary["errors"] == []


def test_record_kinds(archive):
    outcome = scan_tree(archive.root, workers=1)

    kinds: dict[str, int] = {}
    for record in outcome.records.values():
        kinds[record.kind] = kinds.get(record.kind, 0) + 1
    # Without label patterns the sidecar JSON is an other file, like the WFDB signal files.
    assert kinds == {FileKind.DICOM: 29, FileKind.EDF: 2, FileKind.WFDB: 2, FileKind.OTHER: 3}
    assert {record.reader for record in outcome.records.values() if record.kind == FileKind.DICOM} == {"fast"}


def test_progress_counts_the_files_read(archive):
    calls: list[tuple[int, int]] = []

    scan_tree(archive.root, workers=1, progress=lambda done, total: calls.append((done, total)))

    # 36 files, of which the two WFDB .dat files and the JSON file are not read.
    assert calls[0] == (0, 33)
    assert calls[-1] == (33, 33)
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)


# --- cases and annotations ---


def test_label_patterns_annotate_the_study_of_their_folder(archive):
    outcome = scan_tree(archive.root, workers=1, label_patterns=LABELS)
    summary = summary_of(outcome, label_patterns=LABELS)

    label = archive.paths["labels"][0]
    assert outcome.records[label].kind == FileKind.LABEL
    assert summary["files"] == 36
    assert summary["instances"] == 29
    assert summary["cases"] == {"total": 12, "annotated": 2, "non_annotated": 10}
    assert archive.annotated_by_objects + archive.annotated_with_labels == 2


def test_label_of_a_signal_record_and_labels_elsewhere(tmp_path):
    manifest = testdata.archive_write(tmp_path, seg=False, labels=False)
    (tmp_path / "signals" / "eeg" / "eeg_001.label.json").write_text("{}", encoding="utf-8")
    (tmp_path / "signals" / "eeg" / "other.label.json").write_text("{}", encoding="utf-8")
    (tmp_path / "readme.label.json").write_text("{}", encoding="utf-8")

    outcome = scan_tree(tmp_path, workers=1, label_patterns=LABELS)
    summary = summary_of(outcome, label_patterns=LABELS)

    # Only eeg_001's own label annotates it; a label at the root lies in no case's folder.
    assert manifest.cases == 12
    assert summary["files"] == manifest.files + 3
    assert summary["cases"] == {"total": 12, "annotated": 1, "non_annotated": 11}


def test_segmentation_alone_annotates_its_study(tmp_path):
    testdata.archive_write(
        tmp_path, labels=False, mr_studies=0, us=0, mg=0, es=0, ecg=0, eeg=0, wfdb_records=0
    )

    summary = summary_of(scan_tree(tmp_path, workers=1), label_patterns=LABELS)

    assert summary["cases"] == {"total": 2, "annotated": 1, "non_annotated": 1}
    assert summary["modalities"] == {"CT": 10, "SEG": 1}
    assert summary["studies"] == 2
    assert summary["series"] == 3


# --- re-scans ---


def test_rescan_of_an_unchanged_archive_reads_nothing(tmp_path, reads):
    testdata.archive_write(tmp_path)
    first = scan_tree(tmp_path, workers=1, label_patterns=LABELS)
    reads.clear()

    again = scan_tree(tmp_path, workers=1, label_patterns=LABELS, previous=first.records)

    assert reads == []
    assert (again.new, again.changed, again.removed, again.unchanged) == ([], [], [], 36)
    assert again.records == first.records
    assert summary_of(again, label_patterns=LABELS) == summary_of(first, label_patterns=LABELS)


def test_rescan_reads_only_changed_new_and_finds_removed(tmp_path, reads):
    manifest = testdata.archive_write(tmp_path)
    first = scan_tree(tmp_path, workers=1)
    before = summary_of(first)
    ct = manifest.paths["ct"]
    # Changed content (and size): slice 4 of the second CT study now carries a patient name.
    changed = ct[-2]
    previous_record = first.records[changed]
    testdata.dicom_image_write(
        tmp_path / changed,
        patient_id=previous_record.patient_id,
        study_uid=previous_record.study_uid,
        series_uid=previous_record.series_uid,
        instance=4,
        identifying={"PatientName": "김철수"},
        private=False,
    )
    # Touched only: the same bytes with a later modification time are read again.
    touched = manifest.paths["mr"][0]
    info = (tmp_path / touched).stat()
    os.utime(tmp_path / touched, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    # A new slice and a removed one.
    added = ct[0].rsplit("/", 1)[0] + "/0099.dcm"
    testdata.dicom_image_write(
        tmp_path / added,
        patient_id=first.records[ct[0]].patient_id,
        study_uid=first.records[ct[0]].study_uid,
        series_uid=first.records[ct[0]].series_uid,
        instance=99,
        private=False,
    )
    removed = ct[-1]
    (tmp_path / removed).unlink()
    reads.clear()

    again = scan_tree(tmp_path, workers=1, previous=first.records)
    summary = summary_of(again)

    assert sorted(reads) == sorted([changed, touched, added])
    assert again.new == [added]
    assert again.changed == sorted([changed, touched])
    assert again.removed == [removed]
    assert again.unchanged == 36 - 3
    assert again.records[touched] == dataclasses.replace(
        first.records[touched], mtime_ns=info.st_mtime_ns + 1_000_000_000
    )
    assert removed not in again.records
    assert summary["files"] == before["files"] == 36
    assert summary["instances"] == before["instances"] == 29
    assert summary["series"] == before["series"]
    assert summary["deid"]["findings"]["PatientName"] == before["deid"]["findings"]["PatientName"] + 1
    assert summary["deid"]["files_with_findings"] == before["deid"]["files_with_findings"] + 1


def test_rescan_after_label_patterns_change_rejudges_labels_without_reading(tmp_path, reads):
    manifest = testdata.archive_write(tmp_path)
    first = scan_tree(tmp_path, workers=1)
    reads.clear()

    again = scan_tree(tmp_path, workers=1, previous=first.records, label_patterns=LABELS)

    label = manifest.paths["labels"][0]
    assert reads == []
    assert again.changed == [label]
    assert again.records[label].kind == FileKind.LABEL
    assert summary_of(again, label_patterns=LABELS)["cases"]["annotated"] == 2


# --- workers ---


def test_workers_give_the_same_records_and_summary(tmp_path):
    testdata.archive_write(tmp_path, slices=15)

    single = scan_tree(tmp_path, workers=1)
    pooled = scan_tree(tmp_path, workers=2)

    # More than 64 files to read: the pool is used, not the inline path.
    assert len(single.new) - 3 >= 64
    assert pooled.records == single.records
    assert (pooled.new, pooled.files, pooled.errors) == (single.new, single.files, single.errors)
    assert summary_of(pooled) == summary_of(single)
    assert summary_of(single)["instances"] == 30 + 1 + 30 + 2 + 2 + 2 + 2


# --- de-identification findings ---

POLICIES: list[dict[str, Any]] = [
    {},
    {"retain_institution_identity": True},
    {"retain_device_identity": True},
    {"private_safe_list": ["0019,xx10@MEDBROKER TEST"]},
    {"private_safe_list": ["0019,xx10@MEDBROKER TEST", "0019,xx10@SIEMENS CT VA0  COAD"]},
    {"pseudonym_pattern": testdata.PSEUDONYM_PATTERN},
    {
        "retain_institution_identity": True,
        "retain_device_identity": True,
        "private_safe_list": ["0019,xx10@MEDBROKER TEST"],
        "pseudonym_pattern": testdata.PSEUDONYM_PATTERN,
    },
]


def policy_of(options: dict[str, Any]) -> DeidPolicy:
    return DeidPolicy(
        retain_institution_identity=options.get("retain_institution_identity", False),
        retain_device_identity=options.get("retain_device_identity", False),
        private_safe_list=frozenset(options.get("private_safe_list", ())),
        pseudonym_pattern=options.get("pseudonym_pattern", ""),
    )


@pytest.mark.parametrize("options", POLICIES)
def test_findings_per_code_under_each_policy(archive, options):
    outcome = scan_tree(archive.root, workers=1)

    deid = summary_of(outcome, policy=policy_of(options))["deid"]

    expected = archive.findings(**options)
    assert deid["findings"] == expected
    assert deid["files_with_findings"] == archive.files_with_findings(**options)
    files = archive.file_findings(**options)
    assert deid["examples"] == {
        code: sorted(path for path, codes in files.items() if code in codes)[:5] for code in expected
    }


def test_safe_list_keys_are_read_the_way_people_write_them(archive):
    outcome = scan_tree(archive.root, workers=1)
    written = [" 0019,XX10@MEDBROKER TEST ", "0019,xx10@siemens ct va0  coad"]

    deid = summary_of(outcome, policy=policy_of({"private_safe_list": written}))["deid"]

    # Upper-case "XX" and surrounding spaces name the same block; the creator's case is part of its name.
    assert deid["findings"]["private"] == 1
    assert deid["examples"]["private"] == sorted(
        path for path, keys in archive.private.items() if keys == ("0019,xx10@SIEMENS CT VA0  COAD",)
    )


def test_findings_of_the_default_policy_exactly(archive):
    deid = summary_of(scan_tree(archive.root, workers=1))["deid"]

    assert deid["files_with_findings"] == 16
    assert deid["findings"] == {
        "private": 6,
        "BurnedInAnnotation": 1,
        "DeviceSerialNumber": 1,
        "InstitutionAddress": 1,
        "InstitutionName": 1,
        "PatientBirthDate": 1,
        "PatientComments": 1,
        "PatientIdentityRemoved": 1,
        "PatientName": 1,
        "StationName": 1,
        "burned_in_risk": 1,
        "edf.patient_name": 1,
        "edf.recording_technician": 1,
        "text.phone": 1,
        "text.resident_number": 1,
        "wfdb.comments": 1,
    }


def test_retain_options_and_safe_list_leave_the_rest(archive):
    outcome = scan_tree(archive.root, workers=1)

    lenient = summary_of(outcome, policy=policy_of(POLICIES[-1]))["deid"]

    # Institution and device values may stay, the vendor block is safe; the Siemens block is not, and the
    # ECG whose PatientID is a hospital record number breaks the pseudonym scheme.
    assert lenient["files_with_findings"] == 16 - 2 - 3 + 1
    assert lenient["findings"]["private"] == 1
    assert lenient["findings"]["PatientID.pseudonym"] == 1
    assert "InstitutionName" not in lenient["findings"]
    assert "StationName" not in lenient["findings"]
    assert lenient["examples"]["PatientID.pseudonym"] == list(archive.pseudonym_violations)


def test_clean_archive_has_no_findings(tmp_path):
    manifest = testdata.archive_write(tmp_path, planted=False)

    summary = summary_of(scan_tree(tmp_path, workers=1), policy=policy_of(POLICIES[5]))

    assert summary["deid"] == {"files_with_findings": 0, "findings": {}, "examples": {}}
    assert summary["instances"] == manifest.instances
    assert summary["patients"] == manifest.patients


def test_changing_the_policy_needs_no_rescan(archive, reads):
    outcome = scan_tree(archive.root, workers=1)
    reads.clear()

    strict = summary_of(outcome)["deid"]
    lenient = summary_of(outcome, policy=policy_of(POLICIES[-1]))["deid"]

    assert reads == []
    assert (strict["files_with_findings"], lenient["files_with_findings"]) == (16, 12)


def test_records_survive_their_json_round_trip(archive):
    outcome = scan_tree(archive.root, workers=1)

    restored = {path: type(record).from_json(record.as_json()) for path, record in outcome.records.items()}

    assert restored == outcome.records
    assert summary_of(ScanOutcome(records=restored, files=outcome.files)) == summary_of(outcome)
