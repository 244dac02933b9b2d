"""The test-file generators write what they promise: each file reads back with pydicom, pyedflib or wfdb."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pydicom
import pyedflib
import pytest
import wfdb
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medbroker.ingest import testdata
from medbroker.ingest.testdata import (
    PRIVATE_CREATOR,
    archive_write,
    bad_files_write,
    ct_archive_write,
    dicom_ecg_write,
    dicom_image_write,
    dicom_rtstruct_write,
    dicom_seg_write,
    dicom_sr_write,
    edf_write,
    uid_make,
    wfdb_write,
)

SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]


def private_value(ds: pydicom.Dataset, creator: str = PRIVATE_CREATOR) -> str:
    value = ds.private_block(0x0019, creator)[0x10].value
    # Implicit VR: pydicom does not know the private element's VR and gives the raw bytes.
    return value.decode("ascii").strip() if isinstance(value, bytes) else str(value)


# --- UIDs ---


def test_uid_make_is_deterministic_and_valid():
    uid = uid_make(0, "ct-study", 1)

    assert uid == uid_make(0, "ct-study", 1)
    assert uid != uid_make(1, "ct-study", 1)
    assert uid.startswith("2.25.")
    assert len(uid) <= 44
    assert pydicom.uid.UID(uid).is_valid


# --- images ---


@pytest.mark.parametrize(
    ("modality", "sop_class", "shape", "dtype"),
    [
        ("CT", "1.2.840.10008.5.1.4.1.1.2", (512, 512), np.uint16),
        ("MR", "1.2.840.10008.5.1.4.1.1.4", (256, 256), np.uint16),
        ("US", "1.2.840.10008.5.1.4.1.1.6.1", (600, 800, 3), np.uint8),
        ("MG", "1.2.840.10008.5.1.4.1.1.1.2", (1024, 832), np.uint16),
        ("ES", "1.2.840.10008.5.1.4.1.1.77.1.1", (576, 720, 3), np.uint8),
    ],
)
@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
def test_dicom_image_write_reads_back(tmp_path, modality, sop_class, shape, dtype, transfer_syntax):
    path = dicom_image_write(
        tmp_path / "image.dcm",
        modality=modality,
        patient_id="KTL-0042",
        instance=3,
        sex="F",
        age_years=57,
        study_date="20240311",
        transfer_syntax=transfer_syntax,
    )

    ds = pydicom.dcmread(path)
    assert path == tmp_path / "image.dcm"
    assert ds.file_meta.TransferSyntaxUID == transfer_syntax
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPClassUID == sop_class
    assert ds.Modality == modality
    assert ds.PatientID == "KTL-0042"
    assert ds.PatientName == ""
    assert ds.PatientBirthDate == ""
    assert ds.PatientSex == "F"
    assert ds.PatientAge == "057Y"
    assert ds.StudyDate == "20240311"
    assert ds.InstanceNumber == 3
    assert ds.PatientIdentityRemoved == "YES"
    assert "BurnedInAnnotation" not in ds
    assert ds.SOPInstanceUID == f"{ds.SeriesInstanceUID}.3"
    assert private_value(ds) == "1.5"
    pixels = ds.pixel_array
    assert pixels.shape == shape
    assert pixels.dtype.kind == np.dtype(dtype).kind
    assert pixels.dtype.itemsize == np.dtype(dtype).itemsize
    assert int(pixels.max()) == 0


def test_dicom_image_write_ct_header_is_a_scanners(tmp_path):
    path = dicom_image_write(
        tmp_path / "ct.dcm",
        instance=4,
        slice_thickness=2.5,
        kvp=100,
        pixel_spacing=0.8,
        manufacturer="GE MEDICAL SYSTEMS",
        model="Revolution CT",
    )

    ds = pydicom.dcmread(path)
    assert len(ds) >= 70
    assert ds.SliceThickness == 2.5
    assert ds.KVP == 100
    assert list(ds.PixelSpacing) == [0.8, 0.8]
    assert [float(value) for value in ds.ImagePositionPatient] == [-180.0, -180.0, -10.0]
    assert ds.SliceLocation == -10.0
    assert list(ds.ImageOrientationPatient) == [1, 0, 0, 0, 1, 0]
    assert ds.RescaleIntercept == -1024
    assert ds.RescaleSlope == 1
    assert list(ds.ConvolutionKernel) == ["Br40d", "3"]
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert ds.Manufacturer == "GE MEDICAL SYSTEMS"
    assert ds.ManufacturerModelName == "Revolution CT"
    assert ds.BodyPartExamined == "ABDOMEN"
    assert ds.BitsStored == 12
    assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_dicom_image_write_mr_mg_us_es_attributes(tmp_path):
    mr = pydicom.dcmread(dicom_image_write(tmp_path / "mr.dcm", modality="MR", field_strength=1.5))
    mg = pydicom.dcmread(
        dicom_image_write(tmp_path / "mg.dcm", modality="MG", laterality="R", view="MLO", sex="F")
    )
    us = pydicom.dcmread(dicom_image_write(tmp_path / "us.dcm", modality="US", burned_in="NO"))
    es = pydicom.dcmread(dicom_image_write(tmp_path / "es.dcm", modality="ES", pixel_data=False))

    assert mr.MagneticFieldStrength == 1.5
    assert mr.RepetitionTime == 6000
    assert mr.EchoTime == 96
    assert mr.SequenceName == "*tse2d1_15"
    assert (mr.Rows, mr.Columns) == (256, 256)
    assert mg.ViewPosition == "MLO"
    assert mg.ImageLaterality == "R"
    assert mg.PresentationIntentType == "FOR PRESENTATION"
    assert mg.ViewCodeSequence[0].CodeMeaning == "medio-lateral oblique"
    assert (us.SamplesPerPixel, us.PhotometricInterpretation, us.PlanarConfiguration) == (3, "RGB", 0)
    assert us.BurnedInAnnotation == "NO"
    assert len(us.SequenceOfUltrasoundRegions) == 1
    assert es.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.1"
    assert (es.Rows, es.Columns, es.SamplesPerPixel) == (576, 720, 3)
    assert "PixelData" not in es


def test_dicom_image_write_plants_identifying_values(tmp_path):
    path = dicom_image_write(
        tmp_path / "planted.dcm",
        identifying={
            "PatientName": "홍길동",
            "InstitutionName": "대구병원",
            "PatientBirthDate": "19610203",
            "PatientComments": "주민번호 610203-1234567",
        },
        private_creator="SIEMENS CT VA0  COAD",
        identity_removed=None,
        burned_in="YES",
        image_type=["DERIVED", "SECONDARY", "SAVE"],
        sop_class="1.2.840.10008.5.1.4.1.1.7",
    )

    ds = pydicom.dcmread(path)
    assert ds.PatientName == "홍길동"
    assert ds.InstitutionName == "대구병원"
    assert ds.PatientBirthDate == "19610203"
    assert ds.PatientComments == "주민번호 610203-1234567"
    assert private_value(ds, "SIEMENS CT VA0  COAD") == "1.5"
    assert "PatientIdentityRemoved" not in ds
    assert ds.BurnedInAnnotation == "YES"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "SAVE"]
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.7"


def test_dicom_image_write_without_private_block(tmp_path):
    ds = pydicom.dcmread(dicom_image_write(tmp_path / "clean.dcm", private=False))

    assert [element.tag for element in ds if element.tag.is_private] == []


def test_dicom_image_write_is_deterministic(tmp_path):
    first = dicom_image_write(tmp_path / "a.dcm", patient_id="KTL-0001", instance=2)
    second = dicom_image_write(tmp_path / "b.dcm", patient_id="KTL-0001", instance=2)

    assert first.read_bytes() == second.read_bytes()


def test_dicom_image_write_rejects_an_unknown_modality(tmp_path):
    with pytest.raises(ValueError, match="unknown modality 'PT'"):
        dicom_image_write(tmp_path / "pt.dcm", modality="PT")

    assert list(tmp_path.iterdir()) == []


# --- annotation objects and waveforms ---


def test_dicom_seg_write_reads_back(tmp_path):
    references = [f"1.2.826.0.1.3680043.8.498.1.{n}" for n in (1, 2, 3)]

    path = dicom_seg_write(
        tmp_path / "seg.dcm",
        patient_id="KTL-0001",
        study_uid="1.2.826.0.1.3680043.8.498.10",
        referenced_series_uid="1.2.826.0.1.3680043.8.498.11",
        referenced_instance_uids=references,
        rows=64,
        columns=48,
        segment_labels=("Liver", "Tumor"),
    )

    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert ds.Modality == "SEG"
    assert ds.SegmentationType == "BINARY"
    assert ds.StudyInstanceUID == "1.2.826.0.1.3680043.8.498.10"
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns, ds.BitsAllocated) == (3, 64, 48, 1)
    assert [segment.SegmentLabel for segment in ds.SegmentSequence] == ["Liver", "Tumor"]
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == "1.2.826.0.1.3680043.8.498.11"
    assert [
        item.ReferencedSOPInstanceUID for item in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    ] == references
    assert [
        frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for frame in ds.PerFrameFunctionalGroupsSequence
    ] == references
    mask = ds.pixel_array
    assert mask.shape == (3, 64, 48)
    assert mask[0, 32, 24] == 1
    assert mask[0, 0, 0] == 0
    assert int(mask[0].sum()) == int(mask[2].sum())


def test_dicom_rtstruct_write_reads_back(tmp_path):
    path = dicom_rtstruct_write(
        tmp_path / "rt.dcm",
        patient_id="KTL-0001",
        study_uid="1.2.826.0.1.3680043.8.498.10",
        referenced_series_uid="1.2.826.0.1.3680043.8.498.11",
        referenced_instance_uids=["1.2.826.0.1.3680043.8.498.11.1"],
        roi_names=("GTV", "PTV"),
    )

    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3"
    assert ds.Modality == "RTSTRUCT"
    assert [roi.ROIName for roi in ds.StructureSetROISequence] == ["GTV", "PTV"]
    contour = ds.ROIContourSequence[1].ContourSequence[0]
    assert contour.ContourGeometricType == "CLOSED_PLANAR"
    assert contour.NumberOfContourPoints == 4
    assert [float(value) for value in contour.ContourData[:3]] == [-20.0, -20.0, -1.0]
    assert contour.ContourImageSequence[0].ReferencedSOPInstanceUID == "1.2.826.0.1.3680043.8.498.11.1"
    assert (
        ds.ReferencedFrameOfReferenceSequence[0]
        .RTReferencedStudySequence[0]
        .RTReferencedSeriesSequence[0]
        .SeriesInstanceUID
        == "1.2.826.0.1.3680043.8.498.11"
    )


def test_dicom_sr_write_reads_back(tmp_path):
    path = dicom_sr_write(
        tmp_path / "sr.dcm",
        patient_id="KTL-0001",
        study_uid="1.2.826.0.1.3680043.8.498.10",
        findings_text="간 S7에 1.2 cm 결절",
        referenced_series_uid="1.2.826.0.1.3680043.8.498.11",
        referenced_instance_uids=["1.2.826.0.1.3680043.8.498.11.4"],
    )

    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    assert ds.Modality == "SR"
    assert ds.ValueType == "CONTAINER"
    assert ds.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert ds.ContentSequence[0].TextValue == "간 S7에 1.2 cm 결절"
    assert ds.ContentSequence[1].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        "1.2.826.0.1.3680043.8.498.11.4"
    )
    assert ds.VerificationFlag == "UNVERIFIED"


@pytest.mark.parametrize("transfer_syntax", SYNTAXES)
def test_dicom_ecg_write_reads_back(tmp_path, transfer_syntax):
    path = dicom_ecg_write(
        tmp_path / "ecg.dcm",
        patient_id="KTL-0007",
        channels=12,
        sampling_hz=500,
        seconds=10,
        transfer_syntax=transfer_syntax,
    )

    ds = pydicom.dcmread(path)
    group = ds.WaveformSequence[0]
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.9.1.1"
    assert ds.Modality == "ECG"
    assert ds.PatientID == "KTL-0007"
    assert group.NumberOfWaveformChannels == 12
    assert group.NumberOfWaveformSamples == 5000
    assert group.SamplingFrequency == 500
    assert group.WaveformBitsAllocated == 16
    assert group.WaveformSampleInterpretation == "SS"
    assert [item.ChannelSourceSequence[0].CodeMeaning for item in group.ChannelDefinitionSequence][:3] == [
        "Lead I",
        "Lead II",
        "Lead III",
    ]
    assert len(group.WaveformData) == 5000 * 12 * 2
    # The samples are in the transfer syntax's byte order (pydicom's waveform_array assumes little endian).
    order = ">" if transfer_syntax == ExplicitVRBigEndian else "<"
    samples = np.frombuffer(group.WaveformData, dtype=f"{order}i2").reshape(5000, 12)
    expected = dicom_ecg_write(tmp_path / "reference.dcm", patient_id="KTL-0007")
    reference = pydicom.dcmread(expected).waveform_array(0)
    assert np.array_equal(samples.astype(float), reference)
    assert int(samples.max()) > 300


# --- EDF and WFDB ---


def test_edf_write_edf_plus_reads_back(tmp_path):
    path = edf_write(
        tmp_path / "eeg.edf",
        channels=19,
        sampling_hz=256,
        seconds=3,
        patient_code="KTL-0009",
        sex="F",
        birthdate="19610203",
        patient_name="Hong Gildong",
        recording_admin="ADM-77",
        technician="Kim Minsu",
        equipment="Nihon Kohden",
        start=dt.datetime(2024, 2, 29, 13, 5, 7, tzinfo=testdata.KST),
    )

    reader = pyedflib.EdfReader(str(path))
    try:
        header = reader.getHeader()
        assert reader.filetype == pyedflib.FILETYPE_EDFPLUS
        assert reader.signals_in_file == 19
        assert reader.getSampleFrequency(0) == 256
        assert reader.getFileDuration() == 3
        assert reader.getSignalLabels()[:3] == ["EEG Fp1", "EEG Fp2", "EEG F3"]
        assert header["patientcode"] == "KTL-0009"
        assert header["sex"] == "Female"
        assert header["birthdate"] == "03 feb 1961"
        assert header["patientname"] == "Hong Gildong"
        assert header["admincode"] == "ADM-77"
        assert header["technician"] == "Kim Minsu"
        assert header["equipment"] == "Nihon Kohden"
        assert reader.getStartdatetime() == dt.datetime(2024, 2, 29, 13, 5, 7)  # noqa: DTZ001
        assert len(reader.readSignal(0)) == 256 * 3
    finally:
        reader.close()


def test_edf_write_bdf_plus_and_plain_edf(tmp_path):
    bdf = edf_write(tmp_path / "eeg.bdf", channels=4, sampling_hz=128, seconds=2, bdf=True)
    plain = edf_write(
        tmp_path / "plain.edf", channels=2, sampling_hz=100, seconds=2, plus=False, patient_text="Hong 63y M"
    )

    reader = pyedflib.EdfReader(str(bdf))
    try:
        assert reader.filetype == pyedflib.FILETYPE_BDFPLUS
        assert (reader.signals_in_file, reader.getSampleFrequency(3), reader.getFileDuration()) == (4, 128, 2)
        assert reader.getHeader()["patientname"] == "X"
    finally:
        reader.close()
    assert bdf.read_bytes()[:8] == b"\xffBIOSEMI"
    reader = pyedflib.EdfReader(str(plain))
    try:
        assert reader.filetype == pyedflib.FILETYPE_EDF
        assert (reader.signals_in_file, reader.getSampleFrequency(1), reader.getFileDuration()) == (2, 100, 2)
    finally:
        reader.close()
    assert plain.read_bytes()[8:88] == b"Hong 63y M".ljust(80)
    assert plain.read_bytes()[192:197] == b"     "  # plain EDF: no "EDF+C" in the reserved field


def test_wfdb_write_reads_back(tmp_path):
    header_path = wfdb_write(
        tmp_path / "ecg",
        "rec_001",
        channels=12,
        sampling_hz=500,
        seconds=4,
        comments=["age: 63", "sex: M", "dx: sinus rhythm"],
        base_datetime=dt.datetime(2024, 1, 5, 8, 15, tzinfo=testdata.KST),
    )

    header = wfdb.rdheader(str(header_path.with_suffix("")))
    record = wfdb.rdrecord(str(header_path.with_suffix("")))
    assert header_path == tmp_path / "ecg" / "rec_001.hea"
    assert (tmp_path / "ecg" / "rec_001.dat").stat().st_size == 500 * 4 * 12 * 2
    assert (header.n_sig, header.fs, header.sig_len) == (12, 500, 2000)
    assert header.fmt == ["16"] * 12
    assert header.sig_name[:3] == ["I", "II", "III"]
    assert header.comments == ["age: 63", "sex: M", "dx: sinus rhythm"]
    assert header.base_date == dt.date(2024, 1, 5)
    assert header.base_time == dt.time(8, 15)
    assert record.p_signal.shape == (2000, 12)


# --- broken input ---


def test_bad_files_write_writes_each_kind(tmp_path):
    written = bad_files_write(tmp_path, huge_bytes=300_000)

    assert sorted(written) == [
        "broken_edf",
        "broken_wfdb",
        "dangling",
        "empty",
        "huge_header",
        "loop",
        "not_dicom",
        "truncated",
        "wrong_endian",
    ]
    assert written["empty"].stat().st_size == 0
    truncated = written["truncated"].read_bytes()
    assert truncated[128:132] == b"DICM"
    assert truncated.endswith(b"CT AB")  # cut inside StudyDescription "CT ABDOMEN PELVIS W CONTRAST"
    assert written["not_dicom"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = written["wrong_endian"].read_bytes()
    assert b"1.2.840.10008.1.2.1\x00" in wrong[:400]
    # Saying big endian again makes the same bytes a readable file: the data set is big endian.
    fixed = tmp_path / "fixed.dcm"
    fixed.write_bytes(wrong.replace(b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2.2\x00", 1))
    assert pydicom.dcmread(fixed).PatientID == "P0001"
    huge = pydicom.dcmread(written["huge_header"], stop_before_pixels=True)
    assert len(huge.private_block(0x0029, "MEDBROKER HUGE")[0x10].value) == 300_000
    broken_edf = written["broken_edf"].read_bytes()
    assert len(broken_edf) == 300
    assert broken_edf[252:256] == b"19  "
    with pytest.raises(Exception):  # noqa: B017 (wfdb raises its own error types)
        wfdb.rdheader(str(written["broken_wfdb"].with_suffix("")))
    assert written["loop"].is_symlink()
    assert written["loop"].resolve() == tmp_path.resolve()
    assert written["dangling"].is_symlink()
    assert not written["dangling"].exists()


def test_bad_files_write_default_huge_header_is_two_mebibytes(tmp_path):
    written = bad_files_write(tmp_path)

    ds = pydicom.dcmread(written["huge_header"], stop_before_pixels=True)
    assert len(ds.private_block(0x0029, "MEDBROKER HUGE")[0x10].value) == 2 * 1024 * 1024


# --- the mixed archive ---


def all_files(root: Path) -> list[str]:
    return sorted(
        (Path(folder) / name).relative_to(root).as_posix()
        for folder, _dirs, names in os.walk(root)
        for name in names
    )


def test_archive_write_manifest_states_what_is_on_disk(tmp_path):
    manifest = archive_write(tmp_path)

    files = all_files(tmp_path)
    assert manifest.files == len(files) == 36
    assert manifest.instances == 29
    assert manifest.patients == 12
    assert manifest.studies == 8
    assert manifest.series == 10
    assert manifest.modalities == {"CT": 10, "SEG": 1, "MR": 10, "US": 2, "MG": 2, "ES": 2, "ECG": 2}
    assert manifest.signal_formats == {"DICOM-ECG": 2, "EDF+": 1, "BDF+": 1, "WFDB": 2}
    assert manifest.signal_records == 6
    assert (manifest.cases, manifest.annotated_by_objects, manifest.annotated_with_labels) == (12, 1, 1)
    dicom = [path for path in files if path.endswith(".dcm")]
    assert len(dicom) == manifest.instances
    datasets = {path: pydicom.dcmread(tmp_path / path, stop_before_pixels=True) for path in dicom}
    assert len({ds.StudyInstanceUID for ds in datasets.values()}) == manifest.studies
    assert len({ds.SeriesInstanceUID for ds in datasets.values()}) == manifest.series
    assert len({ds.SOPInstanceUID for ds in datasets.values()}) == manifest.instances
    assert sorted(path for path in files if path.startswith("signals/")) == [
        "signals/ecg/rec_001.dat",
        "signals/ecg/rec_001.hea",
        "signals/ecg/rec_002.dat",
        "signals/ecg/rec_002.hea",
        "signals/eeg/eeg_001.edf",
        "signals/eeg/eeg_002.bdf",
    ]
    assert len(manifest.paths["labels"]) == 1
    assert manifest.paths["labels"][0].endswith("/annotation.label.json")


def test_archive_write_planted_values_are_in_the_files(tmp_path):
    manifest = archive_write(tmp_path)

    by_code: dict[str, list[str]] = {}
    for path, codes in manifest.planted.items():
        for code in codes:
            by_code.setdefault(code, []).append(path)
    assert sorted(by_code) == [
        "BurnedInAnnotation",
        "DeviceSerialNumber",
        "InstitutionAddress",
        "InstitutionName",
        "PatientBirthDate",
        "PatientComments",
        "PatientIdentityRemoved",
        "PatientName",
        "StationName",
        "burned_in_risk",
        "edf.patient_name",
        "edf.recording_technician",
        "text.phone",
        "text.resident_number",
        "wfdb.comments",
    ]

    def read(code: str) -> pydicom.Dataset:
        return pydicom.dcmread(tmp_path / by_code[code][0], stop_before_pixels=True)

    assert read("PatientName").PatientName == "홍길동"
    assert read("PatientBirthDate").PatientBirthDate == "19610203"
    assert "610203-1234567" in read("PatientComments").PatientComments
    assert "010-2345-6789" in read("text.phone").RequestedProcedureDescription
    assert read("InstitutionName").InstitutionName == "대구병원"
    assert read("StationName").DeviceSerialNumber == "45123"
    assert read("BurnedInAnnotation").BurnedInAnnotation == "YES"
    assert "BurnedInAnnotation" not in read("burned_in_risk")
    assert read("PatientIdentityRemoved").PatientIdentityRemoved == "NO"
    assert pydicom.dcmread(tmp_path / manifest.pseudonym_violations[0]).PatientID == "00123456"
    reader = pyedflib.EdfReader(str(tmp_path / by_code["edf.patient_name"][0]))
    try:
        assert reader.getHeader()["patientname"] == "Hong Gildong"
    finally:
        reader.close()
    header = wfdb.rdheader(str((tmp_path / by_code["wfdb.comments"][0]).with_suffix("")))
    assert header.comments[-1] == "referred by Dr. Park, cardiology ward 7"
    private_paths = sorted(manifest.private)
    assert len(private_paths) == 6
    assert set(manifest.private.values()) == {
        ("0019,xx10@MEDBROKER TEST",),
        ("0019,xx10@SIEMENS CT VA0  COAD",),
    }


def test_archive_write_manifest_findings_follow_the_policy(tmp_path):
    manifest = archive_write(tmp_path)

    assert manifest.files_with_findings() == 16
    assert manifest.findings()["private"] == 6
    assert "InstitutionName" not in manifest.findings(retain_institution_identity=True)
    assert "StationName" not in manifest.findings(retain_device_identity=True)
    assert manifest.findings(private_safe_list=["0019,xx10@MEDBROKER TEST"])["private"] == 1
    assert manifest.findings(pseudonym_pattern=manifest.pseudonym_pattern)["PatientID.pseudonym"] == 1
    assert manifest.files_with_findings(pseudonym_pattern=manifest.pseudonym_pattern) == 17


def test_archive_write_without_planted_values_is_clean(tmp_path):
    manifest = archive_write(tmp_path, planted=False)

    assert manifest.planted == {}
    assert manifest.private == {}
    assert manifest.pseudonym_violations == ()
    assert manifest.files_with_findings(pseudonym_pattern=manifest.pseudonym_pattern) == 0
    for path in manifest.paths["ct"] + manifest.paths["mr"]:
        ds = pydicom.dcmread(tmp_path / path, stop_before_pixels=True)
        assert ds.PatientName == ""
        assert [element.tag for element in ds if element.tag.is_private] == []


def test_archive_write_same_seed_same_bytes(tmp_path):
    archive_write(tmp_path / "a", seed=7)
    archive_write(tmp_path / "b", seed=7)
    archive_write(tmp_path / "c", seed=8)

    files = all_files(tmp_path / "a")
    assert files == all_files(tmp_path / "b")
    assert all((tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes() for path in files)
    first = pydicom.dcmread(tmp_path / "a" / archive_write(tmp_path / "d", seed=7).paths["ct"][0])
    other = pydicom.dcmread(tmp_path / "c" / archive_write(tmp_path / "e", seed=8).paths["ct"][0])
    assert first.StudyInstanceUID != other.StudyInstanceUID


def test_archive_write_needs_three_slices_to_plant(tmp_path):
    with pytest.raises(ValueError, match="at least 3 slices"):
        archive_write(tmp_path, slices=2)

    assert list(tmp_path.iterdir()) == []


# --- the benchmark archive ---


@pytest.mark.parametrize("workers", [1, 2])
def test_ct_archive_write_patched_slices_read_back(tmp_path, workers):
    calls: list[tuple[int, int]] = []

    manifest = ct_archive_write(
        tmp_path, files=25, slices_per_series=10, seed=3, workers=workers, progress=lambda *a: calls.append(a)
    )

    files = all_files(tmp_path)
    assert (manifest.files, manifest.series, manifest.studies, manifest.patients) == (25, 3, 2, 2)
    assert len(files) == 25
    assert calls[0] == (0, 25)
    assert calls[-1] == (25, 25)
    datasets = [pydicom.dcmread(tmp_path / path) for path in files]
    assert sum((tmp_path / path).stat().st_size for path in files) == manifest.bytes_total
    assert len({ds.SOPInstanceUID for ds in datasets}) == 25
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 3
    assert len({ds.StudyInstanceUID for ds in datasets}) == 2
    reference = testdata._ct_pixels(3)
    for path, ds in zip(files, datasets, strict=True):
        number = int(path.rsplit("/", 1)[1].removesuffix(".dcm"))
        thickness = float(ds.SliceThickness)
        assert ds.InstanceNumber == number
        assert ds.SOPInstanceUID == f"{ds.SeriesInstanceUID}.{100000 + number}"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert float(ds.ImagePositionPatient[2]) == -thickness * number
        assert float(ds.SliceLocation) == -thickness * number
        assert ds.pixel_array.shape == (512, 512)
        assert ds.PixelData == reference
    first = datasets[0]
    assert first.Modality == "CT"
    assert first.PatientID == "KTL-B00001"
    assert first.PatientIdentityRemoved == "YES"
    assert int(first.pixel_array.max()) > 1000


def test_ct_archive_write_same_seed_same_bytes(tmp_path):
    ct_archive_write(tmp_path / "a", files=12, slices_per_series=5, seed=1, workers=1)
    ct_archive_write(tmp_path / "b", files=12, slices_per_series=5, seed=1, workers=2)

    files = all_files(tmp_path / "a")
    assert files == all_files(tmp_path / "b")
    assert all((tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes() for path in files)
