"""The scanner's header readers give the values the reference libraries give.

Each DICOM file is scanned and its record compared field by field with values computed here from
``pydicom.dcmread(stop_before_pixels=True)``; EDF/BDF records with pyedflib's reading, WFDB records with
``wfdb.rdheader``'s. The files come from ``medbroker.ingest.testdata``: every generated modality and
object, in each transfer syntax, with planted identifying values and the encodings that make a header
reader stumble (undefined-length sequences, a header longer than the first read, no preamble).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pydicom
import pyedflib
import pytest
import wfdb
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medbroker.ingest import testdata
from medbroker.ingest.scanner.deid import IDENTIFYING_KEYWORDS, text_findings
from medbroker.ingest.scanner.engine import scan_tree
from medbroker.ingest.scanner.headers import FIRST_READ_BYTES, record_from_pydicom
from medbroker.ingest.scanner.records import FileKind, FileRecord

SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
PLANTED = {
    "PatientName": "홍길동",
    "PatientBirthDate": "19610203",
    "InstitutionName": "대구병원",
    "StationName": "CT01",
    "PatientComments": "주민번호 610203-1234567",
    "RequestedProcedureDescription": "연락처 010-2345-6789",
}


def scanned(path: Path) -> FileRecord:
    """The record the scanner makes of the one file in ``path``'s folder."""
    outcome = scan_tree(path.parent, workers=1)
    assert outcome.errors == []
    return outcome.records[path.name]


# --- expected values from pydicom ---


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue | list):
        return "\\".join(str(part) for part in value).strip()
    return str(value).strip()


def _number(ds: pydicom.Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue | list):
        value = value[0]
    return float(value)


def _age(ds: pydicom.Dataset) -> int | None:
    age = _text(ds, "PatientAge")
    if age.endswith("Y"):
        return int(age[:3])
    birth, study = _text(ds, "PatientBirthDate"), _text(ds, "StudyDate")
    if len(birth) == 8 and len(study) == 8:
        born, day = dt.date.fromisoformat(birth), dt.date.fromisoformat(study)
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return None


def _strings(ds: pydicom.Dataset) -> list[bytes]:
    """Every text value of the header, nested items included: where typed-in identifiers hide."""
    found: list[bytes] = []
    for element in ds:
        if element.tag >= 0x7FE00000:
            break
        if element.VR == "SQ":
            for item in element.value:
                found.extend(_strings(item))
        elif isinstance(element.value, str):
            found.append(element.value.encode("utf-8"))
        elif isinstance(element.value, pydicom.multival.MultiValue):
            found.extend(str(part).encode("utf-8") for part in element.value)
        elif isinstance(element.value, pydicom.valuerep.PersonName):
            found.append(str(element.value).encode("utf-8"))
    return found


def expected_dicom(path: Path, *, reader: str, force: bool = False) -> FileRecord:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=force)
    identifying_keywords = set(IDENTIFYING_KEYWORDS)
    identifying = []
    private = []
    for element in ds:
        if element.keyword in identifying_keywords:
            present = len(element.value) > 0 if element.VR == "SQ" else str(element.value or "").strip() != ""
            if present:
                identifying.append(element.keyword)
        elif element.tag.is_private and element.tag.element >= 0x1000:
            private.append(
                f"{element.tag.group:04X},xx{element.tag.element & 0xFF:02X}@{element.private_creator}"
            )
    identifying.extend(text_findings(b"\x00".join(_strings(ds))))
    waveform = ds.get("WaveformSequence")
    channels = sampling = duration = None
    if waveform:
        group = waveform[0]
        channels = int(group.NumberOfWaveformChannels)
        sampling = float(group.SamplingFrequency)
        duration = round(int(group.NumberOfWaveformSamples) / sampling, 3)
    info = path.stat()
    sex = _text(ds, "PatientSex")
    rows, columns = ds.get("Rows"), ds.get("Columns")
    return FileRecord(
        path=path.name,
        kind=FileKind.DICOM,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        format=("DICOM-ECG" if ds.Modality == "ECG" else "DICOM-WAVEFORM") if waveform else "DICOM",
        patient_id=_text(ds, "PatientID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        modality=_text(ds, "Modality"),
        body_part=_text(ds, "BodyPartExamined"),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        slice_thickness=_number(ds, "SliceThickness"),
        kvp=_number(ds, "KVP"),
        field_strength=_number(ds, "MagneticFieldStrength"),
        pixel_spacing=_number(ds, "PixelSpacing"),
        rows=int(rows) if rows is not None else None,
        columns=int(columns) if columns is not None else None,
        sampling_hz=sampling,
        channels=channels,
        duration_s=duration,
        sex=sex if sex in ("M", "F", "O") else "",
        age_years=_age(ds),
        date=_text(ds, "StudyDate"),
        image_type=tuple(ds.get("ImageType") or ()),
        burned_in_annotation=_text(ds, "BurnedInAnnotation").upper(),
        identity_removed=_text(ds, "PatientIdentityRemoved").upper(),
        identifying=tuple(identifying),
        private_tags=tuple(private),
        reader=reader,
    )


def fast_or_pydicom(transfer_syntax: str) -> str:
    # Big endian is rare enough that the scanner leaves it to pydicom.
    return "pydicom" if transfer_syntax == ExplicitVRBigEndian else "fast"


def assert_same(record: FileRecord, expected: FileRecord) -> None:
    # Field by field, so a failure names the field.
    for field in dataclasses.fields(FileRecord):
        assert (field.name, getattr(record, field.name)) == (field.name, getattr(expected, field.name))


def assert_pydicom_path_agrees(path: Path, record: FileRecord) -> None:
    """The scanner's own pydicom path (its fallback) gives the same record as its fast path."""
    other = FileRecord(path=record.path, kind=FileKind.DICOM, size=record.size, mtime_ns=record.mtime_ns)
    record_from_pydicom(pydicom.dcmread(path, stop_before_pixels=True), other)
    assert dataclasses.replace(other, reader=record.reader) == record


# --- DICOM ---


@pytest.mark.parametrize("modality", testdata.IMAGE_MODALITIES)
@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
def test_image_record_equals_pydicom(tmp_path, modality, transfer_syntax):
    path = testdata.dicom_image_write(
        tmp_path / "image.dcm",
        modality=modality,
        patient_id="KTL-0001",
        sex="F",
        age_years=47,
        transfer_syntax=transfer_syntax,
        burned_in="NO" if modality in ("US", "ES") else None,
    )

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader=fast_or_pydicom(transfer_syntax)))
    assert record.modality == modality
    assert record.private_tags == ("0019,xx10@MEDBROKER TEST",)
    assert record.identifying == ()
    assert_pydicom_path_agrees(path, record)


@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
def test_planted_record_equals_pydicom(tmp_path, transfer_syntax):
    path = testdata.dicom_image_write(
        tmp_path / "planted.dcm",
        modality="CT",
        identifying=PLANTED,
        private_creator="SIEMENS CT VA0  COAD",
        identity_removed="NO",
        burned_in="YES",
        image_type=["DERIVED", "SECONDARY", "SAVE"],
        age_years=None,
        study_date="20240105",
        transfer_syntax=transfer_syntax,
    )

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader=fast_or_pydicom(transfer_syntax)))
    # In tag order, then the identifier patterns found in the text.
    assert record.identifying == (
        "InstitutionName",
        "StationName",
        "PatientName",
        "PatientBirthDate",
        "PatientComments",
        "text.resident_number",
        "text.phone",
    )
    assert record.age_years == 62  # from the birth date, at the study date
    assert record.private_tags == ("0019,xx10@SIEMENS CT VA0  COAD",)
    assert (record.identity_removed, record.burned_in_annotation) == ("NO", "YES")
    assert record.image_type == ("DERIVED", "SECONDARY", "SAVE")
    assert_pydicom_path_agrees(path, record)


@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
@pytest.mark.parametrize("kind", ["SEG", "RTSTRUCT", "SR"])
def test_annotation_object_record_equals_pydicom(tmp_path, transfer_syntax, kind):
    references = [f"1.2.826.0.1.3680043.8.498.11.{n}" for n in (1, 2)]
    common: dict[str, Any] = {
        "patient_id": "KTL-0001",
        "study_uid": "1.2.826.0.1.3680043.8.498.10",
        "referenced_series_uid": "1.2.826.0.1.3680043.8.498.11",
        "referenced_instance_uids": references,
        "transfer_syntax": transfer_syntax,
    }
    if kind == "SEG":
        path = testdata.dicom_seg_write(tmp_path / "object.dcm", rows=32, columns=32, **common)
    elif kind == "RTSTRUCT":
        path = testdata.dicom_rtstruct_write(tmp_path / "object.dcm", **common)
    else:
        path = testdata.dicom_sr_write(tmp_path / "object.dcm", **common)

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader=fast_or_pydicom(transfer_syntax)))
    assert record.modality == kind
    assert record.study_uid == "1.2.826.0.1.3680043.8.498.10"
    assert_pydicom_path_agrees(path, record)


@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
@pytest.mark.parametrize(
    ("channels", "sampling_hz", "seconds"), [(12, 500, 10), (3, 1000, 2.5), (15, 250, 1)]
)
def test_ecg_record_equals_pydicom(tmp_path, transfer_syntax, channels, sampling_hz, seconds):
    path = testdata.dicom_ecg_write(
        tmp_path / "ecg.dcm",
        patient_id="KTL-0002",
        channels=channels,
        sampling_hz=sampling_hz,
        seconds=seconds,
        transfer_syntax=transfer_syntax,
    )

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader=fast_or_pydicom(transfer_syntax)))
    assert (record.format, record.channels, record.sampling_hz, record.duration_s) == (
        "DICOM-ECG",
        channels,
        float(sampling_hz),
        float(seconds),
    )
    assert_pydicom_path_agrees(path, record)


def _undefined_lengths(ds: pydicom.Dataset) -> None:
    for element in ds:
        if element.VR == "SQ":
            element.is_undefined_length = True
            for item in element.value:
                item.is_undefined_length_sequence_item = True
                _undefined_lengths(item)


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("kind", ["US", "SEG", "ECG"])
def test_undefined_length_sequences_read_like_pydicom(tmp_path, transfer_syntax, kind):
    if kind == "US":
        source = testdata.dicom_image_write(
            tmp_path / "source.dcm", modality="US", transfer_syntax=transfer_syntax, identifying=PLANTED
        )
    elif kind == "SEG":
        source = testdata.dicom_seg_write(
            tmp_path / "source.dcm",
            patient_id="KTL-0001",
            study_uid="1.2.826.0.1.3680043.8.498.10",
            referenced_series_uid="1.2.826.0.1.3680043.8.498.11",
            referenced_instance_uids=["1.2.826.0.1.3680043.8.498.11.1"],
            rows=16,
            columns=16,
            transfer_syntax=transfer_syntax,
        )
    else:
        source = testdata.dicom_ecg_write(
            tmp_path / "source.dcm", patient_id="KTL-0001", seconds=1, transfer_syntax=transfer_syntax
        )
    ds = pydicom.dcmread(source)
    _undefined_lengths(ds)
    folder = tmp_path / "undefined"
    folder.mkdir()
    path = folder / "undefined.dcm"
    ds.save_as(path)
    assert path.read_bytes().count(b"\xfe\xff\xdd\xe0") >= 1  # sequence delimiters were written

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader="fast"))
    assert_pydicom_path_agrees(path, record)


def test_header_longer_than_the_first_read(tmp_path):
    path = testdata.dicom_image_write(tmp_path / "long.dcm", identifying={"PatientName": "홍길동"})
    ds = pydicom.dcmread(path)
    block = ds.private_block(0x0029, "MEDBROKER LONG", create=True)
    block.add_new(0x10, "OB", b"\x01" * (3 * FIRST_READ_BYTES))
    ds.save_as(path)

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader="fast"))
    assert record.private_tags == ("0019,xx10@MEDBROKER TEST", "0029,xx10@MEDBROKER LONG")
    assert record.identifying == ("PatientName",)


def test_file_without_preamble_reads_like_pydicom(tmp_path):
    source = testdata.dicom_image_write(tmp_path / "source.dcm", modality="MR", identifying=PLANTED)
    ds = pydicom.dcmread(source)
    del ds.file_meta
    ds.preamble = None
    folder = tmp_path / "bare"
    folder.mkdir()
    path = folder / "bare.dcm"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"

    record = scanned(path)

    assert_same(record, expected_dicom(path, reader="pydicom", force=True))
    assert record.modality == "MR"
    assert record.identifying[-2:] == ("text.resident_number", "text.phone")


def test_archive_records_equal_pydicom(tmp_path):
    manifest = testdata.archive_write(tmp_path, slices=3, us=1, mg=1, es=1, eeg=0, wfdb_records=0)

    outcome = scan_tree(tmp_path, workers=1)

    assert outcome.errors == []
    dicom = [path for path, record in outcome.records.items() if record.kind == FileKind.DICOM]
    assert len(dicom) == manifest.instances
    for relative in dicom:
        expected = expected_dicom(tmp_path / relative, reader="fast")
        assert_same(outcome.records[relative], dataclasses.replace(expected, path=relative))


# --- EDF / BDF ---

_EDF_FORMATS = {
    pyedflib.FILETYPE_EDF: "EDF",
    pyedflib.FILETYPE_EDFPLUS: "EDF+",
    pyedflib.FILETYPE_BDF: "BDF",
    pyedflib.FILETYPE_BDFPLUS: "BDF+",
}
_EDF_SEX = {"Male": "M", "Female": "F"}


def expected_edf(path: Path) -> dict[str, Any]:
    """What pyedflib reads of the header, in the record's terms."""
    reader = pyedflib.EdfReader(str(path))
    try:
        header = reader.getHeader()
        fmt = _EDF_FORMATS[reader.filetype]
        start = reader.getStartdatetime()
        values: dict[str, Any] = {
            "format": fmt,
            "channels": reader.signals_in_file,
            "sampling_hz": max(reader.getSampleFrequencies()),
            "duration_s": float(reader.getFileDuration()),
            "date": start.strftime("%Y%m%d"),
        }
        if fmt.endswith("+"):
            values["patient_id"] = "" if header["patientcode"] in ("", "X") else header["patientcode"]
            values["sex"] = _EDF_SEX.get(header["sex"], "")
            birth = header["birthdate"]
            if birth and birth != "X":
                born = dt.datetime.strptime(birth, "%d %b %Y").date()  # noqa: DTZ007 (a date, no time)
                day = start.date()
                values["age_years"] = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
            else:
                values["age_years"] = None
            identifying = []
            if header["patientname"] not in ("", "X"):
                identifying.append("edf.patient_name")
            if birth not in ("", "X"):
                identifying.append("edf.patient_birthdate")
            if header["patient_additional"] not in ("", "X"):
                identifying.append("edf.patient_additional")
            if header["admincode"] not in ("", "X"):
                identifying.append("edf.recording_admin")
            if header["technician"] not in ("", "X"):
                identifying.append("edf.recording_technician")
            values["identifying"] = tuple(identifying)
        else:
            # pyedflib does not parse a plain EDF's free-text patient field.
            patient = path.read_bytes()[8:88].decode("ascii").strip()
            values.update(patient_id="", sex="", age_years=None)
            values["identifying"] = () if patient in ("", "X") else ("edf.patient",)
        return values
    finally:
        reader.close()


def record_values(record: FileRecord, names: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names}


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"channels": 19, "sampling_hz": 256, "seconds": 3}, "eeg.edf"),
        ({"channels": 1, "sampling_hz": 100, "seconds": 7, "sex": "F"}, "one.edf"),
        ({"channels": 32, "sampling_hz": 512, "seconds": 2, "bdf": True}, "eeg.bdf"),
        ({"channels": 4, "sampling_hz": 200, "seconds": 2, "plus": False}, "plain.edf"),
        ({"channels": 4, "sampling_hz": 128, "seconds": 2, "plus": False, "bdf": True}, "plain.bdf"),
        (
            {"channels": 2, "seconds": 2, "plus": False, "patient_text": "Hong Gildong 610203-1234567"},
            "plain_named.edf",
        ),
        (
            {
                "channels": 3,
                "seconds": 2,
                "patient_code": "KTL-0003",
                "birthdate": "19610203",
                "patient_name": "Hong Gildong",
                "recording_admin": "ADM-7",
                "technician": "Kim",
            },
            "named.edf",
        ),
    ],
)
def test_edf_record_equals_pyedflib(tmp_path, options, name):
    start = dt.datetime(2024, 1, 5, 9, 30, tzinfo=testdata.KST)
    path = testdata.edf_write(tmp_path / name, start=start, **options)

    record = scanned(path)
    expected = expected_edf(path)

    assert record.kind == FileKind.EDF
    identifying = expected.pop("identifying")
    assert record_values(record, expected) == expected
    # The free text is also searched for identifiers typed into it.
    assert record.identifying == identifying + text_findings(path.read_bytes()[8:168])


def test_edf_plus_identifying_fields(tmp_path):
    path = testdata.edf_write(
        tmp_path / "named.edf",
        channels=2,
        seconds=1,
        patient_code="KTL-0003",
        sex="F",
        birthdate="19610203",
        patient_name="Hong Gildong",
        technician="Kim",
        start=dt.datetime(2024, 1, 5, 9, 30, tzinfo=testdata.KST),
    )

    record = scanned(path)

    assert record.identifying == ("edf.patient_name", "edf.patient_birthdate", "edf.recording_technician")
    assert (record.patient_id, record.sex, record.age_years, record.date) == ("KTL-0003", "F", 62, "20240105")


# --- WFDB ---


@pytest.mark.parametrize(
    ("channels", "sampling_hz", "seconds", "comments"),
    [
        (12, 500, 10, ["age: 63", "sex: M"]),
        (2, 360, 3, ["<age>: 71 <sex>: F", "dx: atrial fibrillation"]),
        (1, 128, 5, []),
    ],
)
def test_wfdb_record_equals_rdheader(tmp_path, channels, sampling_hz, seconds, comments):
    start = dt.datetime(2023, 11, 2, 7, 0, tzinfo=testdata.KST)
    path = testdata.wfdb_write(
        tmp_path, "rec", channels=channels, sampling_hz=sampling_hz, seconds=seconds, comments=comments,
        base_datetime=start,
    )  # fmt: skip

    outcome = scan_tree(tmp_path, workers=1)
    record = outcome.records["rec.hea"]
    header = wfdb.rdheader(str(path.with_suffix("")))

    assert outcome.errors == []
    assert (record.kind, record.format) == (FileKind.WFDB, "WFDB")
    assert record.channels == header.n_sig
    assert record.sampling_hz == float(header.fs)
    assert record.duration_s == round(header.sig_len / header.fs, 3)
    assert record.date == header.base_date.strftime("%Y%m%d")
    assert outcome.records["rec.dat"].kind == FileKind.OTHER


def test_wfdb_comments_give_sex_age_and_findings(tmp_path):
    testdata.wfdb_write(tmp_path, "a", seconds=1, comments=["age: 63", "sex: M", "dx: normal"])
    testdata.wfdb_write(tmp_path, "b", seconds=1, comments=["sex: F", "name: Hong Gildong 010-2345-6789"])

    records = scan_tree(tmp_path, workers=1).records

    assert (records["a.hea"].age_years, records["a.hea"].sex, records["a.hea"].identifying) == (63, "M", ())
    assert (records["b.hea"].age_years, records["b.hea"].sex, records["b.hea"].identifying) == (
        None,
        "F",
        ("wfdb.comments", "text.phone"),
    )
