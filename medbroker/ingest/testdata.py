"""Realistic test files for the ingest step: DICOM images and objects, EDF/BDF and WFDB signals, broken files.

Everything is generated here, from a seed, so that a test can state the exact counts a scan must find and
two runs with the same seed write the same bytes; nothing is downloaded. Only pydicom, numpy, wfdb,
pyedflib and the standard library are used, so the module imports without Django being set up (the
benchmark in ``bench/scan.py`` runs it standalone).

The headers look like what scanners write: the modules of each IOD with the attributes vendors fill,
de-identified the way a hospital's pipeline leaves them (Annex E attributes empty, ``PatientIdentityRemoved``
YES, a pseudonym as ``PatientID``, study dates kept). ``identifying`` plants what the audit must find.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import struct
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    ComprehensiveSRStorage,
    CTImageStorage,
    DigitalMammographyXRayImageStorageForPresentation,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RTStructureSetStorage,
    SegmentationStorage,
    TwelveLeadECGWaveformStorage,
    UltrasoundImageStorage,
    VLEndoscopicImageStorage,
)

__all__ = [
    "LABEL_PATTERN",
    "PRIVATE_CREATOR",
    "PSEUDONYM_PATTERN",
    "ArchiveManifest",
    "CtArchiveManifest",
    "archive_write",
    "bad_files_write",
    "ct_archive_write",
    "dicom_ecg_write",
    "dicom_image_write",
    "dicom_rtstruct_write",
    "dicom_seg_write",
    "dicom_sr_write",
    "edf_write",
    "uid_make",
    "wfdb_write",
]

KST = dt.timezone(dt.timedelta(hours=9), "KST")
# The private block every generated image carries by default, as the audit names it.
PRIVATE_CREATOR = "MEDBROKER TEST"
PRIVATE_GROUP = 0x0019
# The hospital pseudonym scheme of the generated archives: "KTL-" and four digits.
PSEUDONYM_PATTERN = r"KTL-\d{4}"
LABEL_PATTERN = "*.label.json"
TRANSFER_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)

# A fixed namespace: UIDs are UUID version 5 of a name built from the seed and counters, written under the
# 2.25 root (PS3.5 §B.2), so the same seed always gives the same UIDs and different names never collide.
_UID_NAMESPACE = uuid.UUID("6f1c3a52-8d4e-5b7a-9c21-4e0d7b3f9a10")


def uid_make(*parts: object) -> str:
    """A deterministic UID (at most 44 characters) for the name made of ``parts``."""
    name = "/".join(str(part) for part in parts)
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


# ---------------------------------------------------------------------------------------------------------
# Modalities
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Modality:
    sop_class: str
    rows: int
    columns: int
    samples: int  # 1 (grey, 16 bits) or 3 (RGB, 8 bits)
    bits_stored: int
    image_type: tuple[str, ...]
    manufacturer: str
    model: str
    body_part: str
    study_description: str
    series_description: str


_MODALITIES: dict[str, _Modality] = {
    "CT": _Modality(
        CTImageStorage, 512, 512, 1, 12, ("ORIGINAL", "PRIMARY", "AXIAL"), "SIEMENS",
        "SOMATOM Definition Edge", "ABDOMEN", "CT ABDOMEN PELVIS W CONTRAST", "ABD 1.0 Br40 PV",
    ),
    "MR": _Modality(
        MRImageStorage, 256, 256, 1, 12, ("ORIGINAL", "PRIMARY", "M", "ND"), "SIEMENS",
        "MAGNETOM Skyra", "BRAIN", "MR BRAIN WO CONTRAST", "t2_tse_tra",
    ),
    "US": _Modality(
        UltrasoundImageStorage, 600, 800, 3, 8, ("ORIGINAL", "PRIMARY", "ABDOMINAL"),
        "SAMSUNG MEDISON CO., LTD.", "RS85", "ABDOMEN", "US ABDOMEN COMPLETE", "Liver",
    ),
    "MG": _Modality(
        DigitalMammographyXRayImageStorageForPresentation, 1024, 832, 1, 14, ("ORIGINAL", "PRIMARY", ""),
        "HOLOGIC, Inc.", "Selenia Dimensions", "BREAST", "MAMMOGRAPHY SCREENING BILATERAL", "L CC",
    ),
    "ES": _Modality(
        VLEndoscopicImageStorage, 576, 720, 3, 8, ("ORIGINAL", "PRIMARY"), "OLYMPUS",
        "EVIS X1 CV-1500", "COLON", "COLONOSCOPY", "Colonoscopy capture",
    ),
}  # fmt: skip
IMAGE_MODALITIES = tuple(_MODALITIES)

# Scanner makes and models a CT or MR series may come from, so archives have several of each.
CT_MODELS = (
    ("SIEMENS", "SOMATOM Definition Edge"),
    ("GE MEDICAL SYSTEMS", "Revolution CT"),
    ("Philips", "IQon Spectral CT"),
    ("CANON_MEC", "Aquilion ONE"),
)
MR_MODELS = (
    ("SIEMENS", "MAGNETOM Skyra", 3.0),
    ("GE MEDICAL SYSTEMS", "SIGNA Explorer", 1.5),
    ("Philips", "Ingenia", 3.0),
)


def _dicom_date(value: str | dt.date) -> str:
    return value.strftime("%Y%m%d") if isinstance(value, dt.date) else value


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _dataset_new(
    *,
    sop_class: str,
    sop_instance_uid: str,
    modality: str,
    patient_id: str,
    sex: str,
    age_years: int | None,
    study_uid: str,
    series_uid: str,
    study_date: str,
    series_number: int,
    instance: int,
    manufacturer: str,
    model: str,
    body_part: str,
    study_description: str,
    series_description: str,
    identity_removed: str | None,
    frame_of_reference_uid: str | None,
) -> Dataset:
    """The modules every generated object shares: SOP Common, Patient, General Study, Series, Equipment."""
    ds = Dataset()
    # SOP Common. UTF-8 throughout, since Korean names and descriptions are planted.
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate = study_date
    ds.InstanceCreationTime = "093512"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance_uid
    # General Study.
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = "093012"
    ds.SeriesTime = "093410"
    ds.AcquisitionTime = "093455.250000"
    ds.ContentTime = "093455.250000"
    # Annex E empties these (Z): type 2, so present and empty.
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = model
    # Patient: the hospital's pseudonym, no name, no birth date.
    ds.PatientName = ""
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = sex
    if identity_removed:
        ds.PatientIdentityRemoved = identity_removed
        ds.DeidentificationMethod = "KTL pseudonymisation 2024 (PS3.15 Annex E basic profile)"
        method = DicomSequence([_code("113100", "DCM", "Basic Application Confidentiality Profile")])
        method.append(_code("113106", "DCM", "Retain Longitudinal Temporal Information Full Dates Option"))
        ds.DeidentificationMethodCodeSequence = method
    if age_years is not None:
        ds.PatientAge = f"{age_years:03d}Y"
    if body_part:
        ds.BodyPartExamined = body_part
    ds.SoftwareVersions = "VB20A" if manufacturer == "SIEMENS" else "1.0"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = ""
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    if frame_of_reference_uid:
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
    return ds


def _private_add(ds: Dataset, creator: str, value: str = "1.5") -> None:
    block = ds.private_block(PRIVATE_GROUP, creator, create=True)
    block.add_new(0x10, "DS", value)


def _values_set(ds: Dataset, values: Mapping[str, Any] | None) -> None:
    for keyword, value in (values or {}).items():
        setattr(ds, keyword, value)


def _save(ds: Dataset, path: Path, transfer_syntax: str) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.UID(transfer_syntax)
    meta.ImplementationVersionName = "MEDBROKER_TEST"
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _pixel_bytes(array: np.ndarray, transfer_syntax: str) -> bytes:
    # OW pixel data is stored in the transfer syntax's byte order; pydicom writes the bytes as given.
    if array.dtype.itemsize > 1 and transfer_syntax == ExplicitVRBigEndian:
        return array.astype(array.dtype.newbyteorder(">")).tobytes()
    return array.astype(array.dtype.newbyteorder("<")).tobytes()


def _image_dataset(
    *,
    modality: str,
    patient_id: str,
    study_uid: str | None,
    series_uid: str | None,
    sop_instance_uid: str | None,
    instance: int,
    series_number: int,
    sex: str,
    age_years: int | None,
    study_date: str | dt.date,
    body_part: str | None,
    manufacturer: str | None,
    model: str | None,
    rows: int | None,
    columns: int | None,
    identifying: Mapping[str, Any] | None,
    private: bool,
    private_creator: str,
    identity_removed: str | None,
    burned_in: str | None,
    image_type: Sequence[str] | None,
    sop_class: str | None,
    slice_thickness: float | None,
    kvp: float | None,
    field_strength: float | None,
    pixel_spacing: float | None,
    laterality: str,
    view: str,
    extra: Mapping[str, Any] | None,
) -> Dataset:
    spec = _MODALITIES[modality]
    study_uid = study_uid or uid_make("study", patient_id, modality)
    series_uid = series_uid or uid_make("series", study_uid, series_number)
    date = _dicom_date(study_date)
    ds = _dataset_new(
        sop_class=sop_class or spec.sop_class,
        sop_instance_uid=sop_instance_uid or f"{series_uid}.{instance}",
        modality=modality,
        patient_id=patient_id,
        sex=sex,
        age_years=age_years,
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=date,
        series_number=series_number,
        instance=instance,
        manufacturer=manufacturer if manufacturer is not None else spec.manufacturer,
        model=model if model is not None else spec.model,
        body_part=body_part if body_part is not None else spec.body_part,
        study_description=spec.study_description,
        series_description=spec.series_description,
        identity_removed=identity_removed,
        frame_of_reference_uid=uid_make("frame", study_uid) if modality in ("CT", "MR", "MG") else None,
    )
    ds.ImageType = list(image_type if image_type is not None else spec.image_type)
    ds.AcquisitionNumber = 1
    ds.PatientOrientation = ["L", "P"] if modality in ("MG", "US", "ES") else ""
    ds.LossyImageCompression = "00"
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    rows = rows or spec.rows
    columns = columns or spec.columns
    if modality == "CT":
        _ct_attributes(ds, instance, slice_thickness, kvp, pixel_spacing)
    elif modality == "MR":
        _mr_attributes(ds, instance, slice_thickness, field_strength, pixel_spacing)
    elif modality == "MG":
        _mg_attributes(ds, kvp, pixel_spacing, laterality, view)
    elif modality == "US":
        ds.TransducerData = ["CA1-7S", "", ""]
        ds.ProcessingFunction = "Abdomen"
        ds.MechanicalIndex = "1.1"
        ds.SoftTissueThermalIndex = "0.3"
        ds.DepthOfScanField = 160
        ds.SequenceOfUltrasoundRegions = DicomSequence([_us_region(rows, columns)])
    elif modality == "ES":
        ds.AnatomicRegionSequence = DicomSequence([_code("71854001", "SCT", "Colon")])
        ds.AcquisitionContextSequence = DicomSequence()
        ds.LensesCodeSequence = DicomSequence()
    # Image Pixel.
    ds.SamplesPerPixel = spec.samples
    ds.PhotometricInterpretation = "RGB" if spec.samples == 3 else "MONOCHROME2"
    if spec.samples == 3:
        ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16 if spec.samples == 1 else 8
    ds.BitsStored = spec.bits_stored
    ds.HighBit = spec.bits_stored - 1
    ds.PixelRepresentation = 0
    if spec.samples == 1:
        ds.WindowCenter = {"CT": "40", "MR": "600", "MG": "2048"}[modality]
        ds.WindowWidth = {"CT": "400", "MR": "1200", "MG": "4096"}[modality]
    if private:
        _private_add(ds, private_creator)
    _values_set(ds, extra)
    _values_set(ds, identifying)
    return ds


def _ct_attributes(
    ds: Dataset, instance: int, slice_thickness: float | None, kvp: float | None, pixel_spacing: float | None
) -> None:
    thickness = 1.0 if slice_thickness is None else slice_thickness
    spacing = 0.703125 if pixel_spacing is None else pixel_spacing
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = f"{thickness:g}"
    ds.KVP = f"{120 if kvp is None else kvp:g}"
    ds.DataCollectionDiameter = "500.0"
    ds.DeviceSerialNumber = ""  # Annex E X: left empty by the de-identification pipeline
    ds.ProtocolName = "ABD_PELVIS_CONTRAST"
    ds.ReconstructionDiameter = "360.0"
    ds.DistanceSourceToDetector = "1085.6"
    ds.DistanceSourceToPatient = "595.0"
    ds.GantryDetectorTilt = "0.0"
    ds.TableHeight = "165.0"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = 245
    ds.Exposure = 122
    ds.FilterType = "FLAT"
    ds.GeneratorPower = 29
    ds.FocalSpots = "1.2"
    ds.ConvolutionKernel = ["Br40d", "3"]
    ds.PatientPosition = "FFS"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.6
    ds.TotalCollimationWidth = 38.4
    ds.TableSpeed = 46.0
    ds.TableFeedPerRotation = 23.0
    ds.SpiralPitchFactor = 0.6
    ds.CTDIvol = 8.12
    ds.ImagePositionPatient = ["-180.0", "-180.0", f"{-thickness * instance:.3f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = f"{-thickness * instance:.3f}"
    ds.PixelSpacing = [f"{spacing:g}", f"{spacing:g}"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"


def _mr_attributes(
    ds: Dataset,
    instance: int,
    slice_thickness: float | None,
    field_strength: float | None,
    pixel_spacing: float | None,
) -> None:
    thickness = 5.0 if slice_thickness is None else slice_thickness
    spacing = 0.898438 if pixel_spacing is None else pixel_spacing
    strength = 3.0 if field_strength is None else field_strength
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP", "OSP"]
    ds.ScanOptions = ["PFP", "FS"]
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "*tse2d1_15"
    ds.AngioFlag = "N"
    ds.SliceThickness = f"{thickness:g}"
    ds.RepetitionTime = "6000"
    ds.EchoTime = "96"
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = f"{42.577478 * strength:.6f}"
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = f"{strength:g}"
    ds.SpacingBetweenSlices = f"{thickness * 1.2:g}"
    ds.NumberOfPhaseEncodingSteps = 256
    ds.EchoTrainLength = 15
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = "100"
    ds.PixelBandwidth = "220"
    ds.ProtocolName = "t2_tse_tra"
    ds.TransmitCoilName = "Body"
    ds.AcquisitionMatrix = [0, 256, 256, 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = "150"
    ds.SAR = "1.2"
    ds.dBdt = "0"
    ds.PatientPosition = "HFS"
    ds.ImagePositionPatient = ["-115.0", "-115.0", f"{thickness * 1.2 * instance:.3f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = f"{thickness * 1.2 * instance:.3f}"
    ds.PixelSpacing = [f"{spacing:g}", f"{spacing:g}"]


def _mg_attributes(
    ds: Dataset, kvp: float | None, pixel_spacing: float | None, laterality: str, view: str
) -> None:
    spacing = 0.07 if pixel_spacing is None else pixel_spacing
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.KVP = f"{29 if kvp is None else kvp:g}"
    ds.DistanceSourceToDetector = "700"
    ds.DistanceSourceToPatient = "660"
    ds.BodyPartThickness = "52"
    ds.CompressionForce = "98"
    ds.ExposureTime = "1240"
    ds.XRayTubeCurrent = 105
    ds.Exposure = 130
    ds.AnodeTargetMaterial = "TUNGSTEN"
    ds.FilterMaterial = "RHODIUM"
    ds.DetectorType = "DIRECT"
    ds.PositionerPrimaryAngle = "0"
    ds.ImagerPixelSpacing = [f"{spacing:g}", f"{spacing:g}"]
    ds.PixelSpacing = [f"{spacing:g}", f"{spacing:g}"]
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.BreastImplantPresent = "NO"
    ds.SeriesDescription = f"{laterality} {view}"
    ds.ViewCodeSequence = DicomSequence(
        [
            _code("R-10242", "SRT", "cranio-caudal")
            if view == "CC"
            else _code("R-10226", "SRT", "medio-lateral oblique")
        ]
    )
    ds.PresentationLUTShape = "IDENTITY"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"


def _us_region(rows: int, columns: int) -> Dataset:
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 2
    region.RegionLocationMinX0 = columns // 8
    region.RegionLocationMinY0 = rows // 10
    region.RegionLocationMaxX1 = columns - columns // 8
    region.RegionLocationMaxY1 = rows - rows // 10
    region.PhysicalUnitsXDirection = 3
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = 0.0254
    region.PhysicalDeltaY = 0.0254
    return region


def dicom_image_write(
    path: str | os.PathLike[str],
    *,
    modality: str = "CT",
    patient_id: str = "P0001",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_instance_uid: str | None = None,
    instance: int = 1,
    series_number: int = 1,
    sex: str = "M",
    age_years: int | None = 63,
    study_date: str | dt.date = "20240105",
    body_part: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    rows: int | None = None,
    columns: int | None = None,
    pixel_data: bool = True,
    identifying: Mapping[str, Any] | None = None,
    private: bool = True,
    private_creator: str = PRIVATE_CREATOR,
    identity_removed: str | None = "YES",
    burned_in: str | None = None,
    image_type: Sequence[str] | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    sop_class: str | None = None,
    slice_thickness: float | None = None,
    kvp: float | None = None,
    field_strength: float | None = None,
    pixel_spacing: float | None = None,
    laterality: str = "L",
    view: str = "CC",
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write one image of ``modality`` (CT, MR, US, MG or ES) with a scanner-like header.

    ``None`` for ``body_part``, ``manufacturer``, ``model``, ``rows`` and ``columns`` takes the modality's
    default (CT 512×512, MR 256×256, US 600×800 RGB, MG 1024×832, ES 576×720 RGB). ``identifying`` sets
    attributes by keyword after everything else (what the de-identification audit must find); ``extra``
    does the same for any other attribute. ``identity_removed=None`` and ``burned_in=None`` leave those
    attributes out. The pixel data are zeros of the right size and type.
    """
    if modality not in _MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; one of {', '.join(IMAGE_MODALITIES)}")
    ds = _image_dataset(
        modality=modality,
        patient_id=patient_id,
        study_uid=study_uid,
        series_uid=series_uid,
        sop_instance_uid=sop_instance_uid,
        instance=instance,
        series_number=series_number,
        sex=sex,
        age_years=age_years,
        study_date=study_date,
        body_part=body_part,
        manufacturer=manufacturer,
        model=model,
        rows=rows,
        columns=columns,
        identifying=identifying,
        private=private,
        private_creator=private_creator,
        identity_removed=identity_removed,
        burned_in=burned_in,
        image_type=image_type,
        sop_class=sop_class,
        slice_thickness=slice_thickness,
        kvp=kvp,
        field_strength=field_strength,
        pixel_spacing=pixel_spacing,
        laterality=laterality,
        view=view,
        extra=extra,
    )
    if pixel_data:
        if ds.SamplesPerPixel == 3:
            pixels = np.zeros((ds.Rows, ds.Columns, 3), dtype=np.uint8)
            ds.PixelData = pixels.tobytes()
            ds["PixelData"].VR = "OB"
        else:
            pixels = np.zeros((ds.Rows, ds.Columns), dtype=np.uint16)
            ds.PixelData = _pixel_bytes(pixels, transfer_syntax)
            ds["PixelData"].VR = "OW"
    return _save(ds, Path(path), transfer_syntax)


# ---------------------------------------------------------------------------------------------------------
# Annotation objects and waveforms
# ---------------------------------------------------------------------------------------------------------


def _sop_reference(sop_class: str, instance_uid: str) -> Dataset:
    reference = Dataset()
    reference.ReferencedSOPClassUID = sop_class
    reference.ReferencedSOPInstanceUID = instance_uid
    return reference


def _sop_references(sop_class: str, instance_uids: Sequence[str]) -> DicomSequence:
    return DicomSequence([_sop_reference(sop_class, instance_uid) for instance_uid in instance_uids])


def _referenced_series(series_uid: str, sop_class: str, instance_uids: Sequence[str]) -> Dataset:
    item = Dataset()
    item.SeriesInstanceUID = series_uid
    item.ReferencedInstanceSequence = _sop_references(sop_class, instance_uids)
    return item


def _annotation_dataset_new(
    *,
    sop_class: str,
    modality: str,
    model: str,
    series_description: str,
    patient_id: str,
    sex: str,
    age_years: int | None,
    study_uid: str,
    series_uid: str,
    study_date: str | dt.date,
    series_number: int,
    identity_removed: str | None,
    instance: int = 1,
    manufacturer: str = "MEDBROKER",
    study_description: str | None = None,
    frame_of_reference_uid: str | None = None,
) -> Dataset:
    """The shared modules of a non-image object; the study description defaults to the CT study's."""
    return _dataset_new(
        sop_class=sop_class,
        sop_instance_uid=f"{series_uid}.{instance}",
        modality=modality,
        patient_id=patient_id,
        sex=sex,
        age_years=age_years,
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=_dicom_date(study_date),
        series_number=series_number,
        instance=instance,
        manufacturer=manufacturer,
        model=model,
        body_part="",
        study_description=study_description or _MODALITIES["CT"].study_description,
        series_description=series_description,
        identity_removed=identity_removed,
        frame_of_reference_uid=frame_of_reference_uid,
    )


def _finish(
    ds: Dataset,
    path: str | os.PathLike[str],
    transfer_syntax: str,
    identifying: Mapping[str, Any] | None,
    private: bool = False,
) -> Path:
    """Add the private block when asked, plant the identifying values and write the file."""
    if private:
        _private_add(ds, PRIVATE_CREATOR)
    _values_set(ds, identifying)
    return _save(ds, Path(path), transfer_syntax)


def dicom_seg_write(
    path: str | os.PathLike[str],
    *,
    patient_id: str,
    study_uid: str,
    referenced_series_uid: str,
    referenced_instance_uids: Sequence[str] = (),
    referenced_sop_class: str = CTImageStorage,
    series_uid: str | None = None,
    series_number: int = 900,
    instance: int = 1,
    frames: int | None = None,
    rows: int = 512,
    columns: int = 512,
    segment_labels: Sequence[str] = ("Liver",),
    sex: str = "M",
    age_years: int | None = 63,
    study_date: str | dt.date = "20240105",
    frame_of_reference_uid: str | None = None,
    identifying: Mapping[str, Any] | None = None,
    private: bool = False,
    identity_removed: str | None = "YES",
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write a binary Segmentation (one frame per referenced instance, a disc in each) of a CT series."""
    frames = frames if frames is not None else max(1, len(referenced_instance_uids))
    series_uid = series_uid or uid_make("seg-series", referenced_series_uid, series_number)
    frame_of_reference_uid = frame_of_reference_uid or uid_make("frame", study_uid)
    ds = _annotation_dataset_new(
        sop_class=SegmentationStorage,
        modality="SEG",
        model="Annotation Tool",
        series_description="Segmentation",
        patient_id=patient_id,
        sex=sex,
        age_years=age_years,
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=study_date,
        series_number=series_number,
        identity_removed=identity_removed,
        instance=instance,
        frame_of_reference_uid=frame_of_reference_uid,
    )
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel = "SEGMENTATION"
    ds.ContentDescription = "Expert segmentation"
    ds.ContentCreatorName = ""
    ds.SegmentationType = "BINARY"
    ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.NumberOfFrames = frames
    ds.BitsAllocated = 1
    ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    ds.ReferencedSeriesSequence = DicomSequence(
        [_referenced_series(referenced_series_uid, referenced_sop_class, referenced_instance_uids)]
    )
    segments = DicomSequence()
    for number, label in enumerate(segment_labels, start=1):
        segment = Dataset()
        segment.SegmentNumber = number
        segment.SegmentLabel = label
        segment.SegmentAlgorithmType = "MANUAL"
        segment.SegmentedPropertyCategoryCodeSequence = DicomSequence(
            [_code("123037004", "SCT", "Anatomical Structure")]
        )
        segment.SegmentedPropertyTypeCodeSequence = DicomSequence([_code("10200004", "SCT", label)])
        segments.append(segment)
    ds.SegmentSequence = segments
    dimension = Dataset()
    dimension.DimensionOrganizationUID = uid_make("dimension", series_uid)
    ds.DimensionOrganizationSequence = DicomSequence([dimension])
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = ["0.703125", "0.703125"]
    measures.SliceThickness = "1"
    shared.PixelMeasuresSequence = DicomSequence([measures])
    orientation = Dataset()
    orientation.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = DicomSequence()
    for index in range(frames):
        group = Dataset()
        content = Dataset()
        content.DimensionIndexValues = [1, index + 1]
        group.FrameContentSequence = DicomSequence([content])
        position = Dataset()
        position.ImagePositionPatient = ["-180.0", "-180.0", f"{-(index + 1):.3f}"]
        group.PlanePositionSequence = DicomSequence([position])
        identification = Dataset()
        identification.ReferencedSegmentNumber = 1
        group.SegmentIdentificationSequence = DicomSequence([identification])
        if index < len(referenced_instance_uids):
            source = _sop_reference(referenced_sop_class, referenced_instance_uids[index])
            source.PurposeOfReferenceCodeSequence = DicomSequence(
                [_code("121322", "DCM", "Source image for image processing operation")]
            )
            derivation = Dataset()
            derivation.SourceImageSequence = DicomSequence([source])
            derivation.DerivationCodeSequence = DicomSequence([_code("113076", "DCM", "Segmentation")])
            group.DerivationImageSequence = DicomSequence([derivation])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    # A disc in the middle of every frame, bit-packed little-endian as PS3.5 §8.1.1 prescribes.
    yy, xx = np.mgrid[0:rows, 0:columns]
    disc = (yy - rows / 2) ** 2 + (xx - columns / 2) ** 2 < (min(rows, columns) / 6) ** 2
    mask = np.broadcast_to(disc, (frames, rows, columns))
    packed = np.packbits(mask.reshape(-1), bitorder="little").tobytes()
    if len(packed) % 2:
        packed += b"\x00"
    ds.PixelData = packed
    ds["PixelData"].VR = "OB"
    return _finish(ds, path, transfer_syntax, identifying, private)


def dicom_rtstruct_write(
    path: str | os.PathLike[str],
    *,
    patient_id: str,
    study_uid: str,
    referenced_series_uid: str,
    referenced_instance_uids: Sequence[str] = (),
    referenced_sop_class: str = CTImageStorage,
    series_uid: str | None = None,
    series_number: int = 901,
    roi_names: Sequence[str] = ("GTV",),
    sex: str = "M",
    age_years: int | None = 63,
    study_date: str | dt.date = "20240105",
    frame_of_reference_uid: str | None = None,
    identifying: Mapping[str, Any] | None = None,
    identity_removed: str | None = "YES",
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write an RT Structure Set with one closed square contour per ROI on the first referenced slice."""
    series_uid = series_uid or uid_make("rtstruct-series", referenced_series_uid, series_number)
    frame_of_reference_uid = frame_of_reference_uid or uid_make("frame", study_uid)
    ds = _annotation_dataset_new(
        sop_class=RTStructureSetStorage,
        modality="RTSTRUCT",
        model="Annotation Tool",
        series_description="RTSTRUCT",
        patient_id=patient_id,
        sex=sex,
        age_years=age_years,
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=study_date,
        series_number=series_number,
        identity_removed=identity_removed,
    )
    ds.OperatorsName = ""
    ds.StructureSetLabel = "Contours"
    ds.StructureSetDate = ds.StudyDate
    ds.StructureSetTime = "101500"
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_of_reference_uid
    study = Dataset()
    study.ReferencedSOPClassUID = (
        "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired, conventional)
    )
    study.ReferencedSOPInstanceUID = study_uid
    series = Dataset()
    series.SeriesInstanceUID = referenced_series_uid
    series.ContourImageSequence = _sop_references(referenced_sop_class, referenced_instance_uids)
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    rois = DicomSequence()
    contours = DicomSequence()
    observations = DicomSequence()
    for number, name in enumerate(roi_names, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        rois.append(roi)
        contour = Dataset()
        contour.ROIDisplayColor = [255, 0, 0]
        contour.ReferencedROINumber = number
        item = Dataset()
        if referenced_instance_uids:
            item.ContourImageSequence = _sop_references(referenced_sop_class, referenced_instance_uids[:1])
        item.ContourGeometricType = "CLOSED_PLANAR"
        item.NumberOfContourPoints = 4
        half = 10.0 * number
        item.ContourData = [-half, -half, -1.0, half, -half, -1.0, half, half, -1.0, -half, half, -1.0]
        contour.ContourSequence = DicomSequence([item])
        contours.append(contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = "GTV"
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = rois
    ds.ROIContourSequence = contours
    ds.RTROIObservationsSequence = observations
    ds.ApprovalStatus = "UNAPPROVED"
    return _finish(ds, path, transfer_syntax, identifying)


def dicom_sr_write(
    path: str | os.PathLike[str],
    *,
    patient_id: str,
    study_uid: str,
    findings_text: str = "간 우엽에 2.1 cm 저음영 병변.",
    referenced_series_uid: str | None = None,
    referenced_instance_uids: Sequence[str] = (),
    referenced_sop_class: str = CTImageStorage,
    series_uid: str | None = None,
    series_number: int = 902,
    sex: str = "M",
    age_years: int | None = 63,
    study_date: str | dt.date = "20240105",
    identifying: Mapping[str, Any] | None = None,
    identity_removed: str | None = "YES",
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write a Comprehensive SR report: a container with a finding text and the images it refers to."""
    series_uid = series_uid or uid_make("sr-series", study_uid, series_number)
    ds = _annotation_dataset_new(
        sop_class=ComprehensiveSRStorage,
        modality="SR",
        model="Report Tool",
        series_description="Report",
        patient_id=patient_id,
        sex=sex,
        age_years=age_years,
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=study_date,
        series_number=series_number,
        identity_removed=identity_removed,
    )
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = DicomSequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = DicomSequence()
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "2000"
    ds.ContentTemplateSequence = DicomSequence([template])
    finding = Dataset()
    finding.RelationshipType = "CONTAINS"
    finding.ValueType = "TEXT"
    finding.ConceptNameCodeSequence = DicomSequence([_code("121071", "DCM", "Finding")])
    finding.TextValue = findings_text
    content = DicomSequence([finding])
    if referenced_instance_uids:
        image = Dataset()
        image.RelationshipType = "CONTAINS"
        image.ValueType = "IMAGE"
        image.ConceptNameCodeSequence = DicomSequence(
            [_code("121080", "DCM", "Best illustration of finding")]
        )
        image.ReferencedSOPSequence = _sop_references(referenced_sop_class, referenced_instance_uids[:1])
        content.append(image)
    ds.ContentSequence = content
    if referenced_series_uid:
        evidence = Dataset()
        evidence.StudyInstanceUID = study_uid
        series = Dataset()
        series.SeriesInstanceUID = referenced_series_uid
        series.ReferencedSOPSequence = _sop_references(referenced_sop_class, referenced_instance_uids)
        evidence.ReferencedSeriesSequence = DicomSequence([series])
        ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([evidence])
    return _finish(ds, path, transfer_syntax, identifying)


# The twelve leads with their SCP-ECG codes (CID 3001).
ECG_LEADS = (
    ("5.6.3-9-1", "Lead I"), ("5.6.3-9-2", "Lead II"), ("5.6.3-9-61", "Lead III"),
    ("5.6.3-9-62", "Lead aVR"), ("5.6.3-9-63", "Lead aVL"), ("5.6.3-9-64", "Lead aVF"),
    ("5.6.3-9-3", "Lead V1"), ("5.6.3-9-4", "Lead V2"), ("5.6.3-9-5", "Lead V3"),
    ("5.6.3-9-6", "Lead V4"), ("5.6.3-9-7", "Lead V5"), ("5.6.3-9-8", "Lead V6"),
)  # fmt: skip


def _ecg_like(samples: int, channels: int, sampling_hz: float, seed: int) -> np.ndarray:
    """A heartbeat-like trace per channel (QRS spikes at 72/min plus a little noise), in microvolts."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sampling_hz
    phase = (t * 1.2) % 1.0
    beat = 1000 * np.exp(-(((phase - 0.3) / 0.012) ** 2)) + 150 * np.exp(-(((phase - 0.55) / 0.05) ** 2))
    traces = [beat * (0.5 + 0.1 * (index % 6)) + rng.normal(0, 10, samples) for index in range(channels)]
    return np.stack(traces, axis=1)


def dicom_ecg_write(
    path: str | os.PathLike[str],
    *,
    patient_id: str,
    channels: int = 12,
    sampling_hz: int = 500,
    seconds: float = 10,
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    sex: str = "M",
    age_years: int | None = 63,
    study_date: str | dt.date = "20240105",
    manufacturer: str = "GE Healthcare",
    model: str = "MAC 5500 HD",
    identifying: Mapping[str, Any] | None = None,
    private: bool = False,
    identity_removed: str | None = "YES",
    transfer_syntax: str = ExplicitVRLittleEndian,
    seed: int = 0,
) -> Path:
    """Write a 12-Lead ECG Waveform object: one multiplex group of ``channels`` 16-bit signed channels."""
    study_uid = study_uid or uid_make("study", patient_id, "ECG")
    series_uid = series_uid or uid_make("series", study_uid, series_number)
    samples = round(sampling_hz * seconds)
    ds = _annotation_dataset_new(
        sop_class=TwelveLeadECGWaveformStorage,
        modality="ECG",
        model=model,
        series_description="Resting ECG",
        patient_id=patient_id,
        sex=sex,
        age_years=age_years,
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=study_date,
        series_number=series_number,
        identity_removed=identity_removed,
        manufacturer=manufacturer,
        study_description="RESTING 12 LEAD ECG",
    )
    ds.AcquisitionDateTime = f"{ds.StudyDate}093455"
    ds.AcquisitionContextSequence = DicomSequence()
    group = Dataset()
    group.MultiplexGroupTimeOffset = "0.0"
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = channels
    group.NumberOfWaveformSamples = samples
    group.SamplingFrequency = f"{sampling_hz:g}"
    group.MultiplexGroupLabel = "RHYTHM"
    definitions = DicomSequence()
    for index in range(channels):
        code, meaning = ECG_LEADS[index % len(ECG_LEADS)]
        definition = Dataset()
        definition.WaveformChannelNumber = index + 1
        definition.ChannelLabel = meaning.replace("Lead ", "")
        definition.ChannelSourceSequence = DicomSequence([_code(code, "SCPECG", meaning)])
        definition.ChannelSensitivity = "1.0"
        definition.ChannelSensitivityUnitsSequence = DicomSequence([_code("uV", "UCUM", "microvolt")])
        definition.ChannelSensitivityCorrectionFactor = "1"
        definition.ChannelBaseline = "0"
        definition.ChannelSampleSkew = "0"
        definition.WaveformBitsStored = 16
        definition.FilterLowFrequency = "0.05"
        definition.FilterHighFrequency = "150"
        definitions.append(definition)
    group.ChannelDefinitionSequence = definitions
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    data = np.clip(_ecg_like(samples, channels, sampling_hz, seed), -32768, 32767).astype(np.int16)
    group.WaveformData = _pixel_bytes(data, transfer_syntax)
    group["WaveformData"].VR = "OW"
    ds.WaveformSequence = DicomSequence([group])
    return _finish(ds, path, transfer_syntax, identifying, private)


# ---------------------------------------------------------------------------------------------------------
# EDF and WFDB
# ---------------------------------------------------------------------------------------------------------

EEG_LABELS = (
    "Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2",
    "F7", "F8", "T3", "T4", "T5", "T6", "Fz", "Cz", "Pz",
)  # fmt: skip


def _edf_field(value: str) -> str:
    # EDF+ subfields are separated by spaces, so spaces inside a subfield become underscores (EDF+ §2.1.3.2).
    return value.strip().replace(" ", "_") or "X"


def _birthdate(value: str | dt.date) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = value.strip()
    if text in ("", "X"):
        return None
    if len(text) == 8 and text.isdigit():
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    return dt.date.fromisoformat(text)


def edf_write(
    path: str | os.PathLike[str],
    *,
    channels: int = 19,
    sampling_hz: int = 256,
    seconds: int = 60,
    patient_code: str = "X",
    sex: str = "M",
    birthdate: str | dt.date = "X",
    patient_name: str = "X",
    recording_admin: str = "X",
    technician: str = "X",
    equipment: str = "X",
    start: dt.datetime | None = None,
    bdf: bool = False,
    plus: bool = True,
    patient_text: str = "X",
    seed: int = 0,
) -> Path:
    """Write an EEG recording as EDF+ (``bdf`` for BDF+; ``plus=False`` for plain EDF / BDF).

    EDF+ patient and recording fields are built from their subfields ("X" = unknown). A plain EDF's
    patient field is the free text ``patient_text`` instead. One data record per second; keep ``seconds``
    small in tests (19 channels × 256 Hz is 10 KB a second).
    """
    import pyedflib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = start or dt.datetime(2024, 1, 5, 9, 30, tzinfo=KST)
    if bdf:
        file_type = pyedflib.FILETYPE_BDFPLUS if plus else pyedflib.FILETYPE_BDF
        digital = (-8388608, 8388607)
    else:
        file_type = pyedflib.FILETYPE_EDFPLUS if plus else pyedflib.FILETYPE_EDF
        digital = (-32768, 32767)
    labels = [f"EEG {EEG_LABELS[index % len(EEG_LABELS)]}" for index in range(channels)]
    rng = np.random.default_rng(seed)
    samples = sampling_hz * seconds
    t = np.arange(samples) / sampling_hz
    signals = [
        40 * np.sin(2 * np.pi * (8 + index % 5) * t) + rng.normal(0, 5, samples) for index in range(channels)
    ]
    writer = pyedflib.EdfWriter(str(path), channels, file_type=file_type)
    try:
        writer.setSignalHeaders(
            [
                {
                    "label": label,
                    "dimension": "uV",
                    "sample_frequency": sampling_hz,
                    "physical_max": 3276.7,
                    "physical_min": -3276.8,
                    "digital_max": digital[1],
                    "digital_min": digital[0],
                    "transducer": "AgAgCl electrode",
                    "prefilter": "HP:0.1Hz LP:70Hz",
                }
                for label in labels
            ]
        )
        if patient_code not in ("", "X"):
            writer.setPatientCode(_edf_field(patient_code))
        if sex in ("M", "F"):
            writer.setSex(1 if sex == "M" else 0)  # EDF+ knows male (1) and female (0)
        born = _birthdate(birthdate)
        if born is not None:
            writer.setBirthdate(born)
        if patient_name not in ("", "X"):
            writer.setPatientName(_edf_field(patient_name))
        if recording_admin not in ("", "X"):
            writer.setAdmincode(_edf_field(recording_admin))
        if technician not in ("", "X"):
            writer.setTechnician(_edf_field(technician))
        if equipment not in ("", "X"):
            writer.setEquipment(_edf_field(equipment))
        # pyedflib takes the wall-clock time of the recording; EDF has no time zone.
        writer.setStartdatetime(start.replace(tzinfo=None))
        writer.writeSamples(signals)
    finally:
        writer.close()
    if not plus:
        # EDFlib writes EDF+-style subfields even for plain EDF; a plain EDF's field is free text.
        with open(path, "r+b") as handle:
            handle.seek(8)
            handle.write(patient_text.encode("ascii")[:80].ljust(80))
    return path


def wfdb_write(
    folder: str | os.PathLike[str],
    record_name: str,
    *,
    channels: int = 12,
    sampling_hz: int = 500,
    seconds: float = 10,
    comments: Sequence[str] = ("age: 63", "sex: M"),
    base_datetime: dt.datetime | None = None,
    seed: int = 0,
) -> Path:
    """Write a WFDB record (format 16, gain 200/mV) and return the path of its ``.hea`` header."""
    import wfdb

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples = round(sampling_hz * seconds)
    signal = _ecg_like(samples, channels, sampling_hz, seed) / 1000.0  # millivolts
    names = [ECG_LEADS[index % len(ECG_LEADS)][1].replace("Lead ", "") for index in range(channels)]
    arguments: dict[str, Any] = {}
    if base_datetime is not None:
        arguments["base_date"] = base_datetime.date()
        arguments["base_time"] = base_datetime.time().replace(tzinfo=None)
    wfdb.wrsamp(
        record_name,
        fs=sampling_hz,
        units=["mV"] * channels,
        sig_name=names,
        p_signal=signal,
        fmt=["16"] * channels,
        adc_gain=[200.0] * channels,
        baseline=[0] * channels,
        comments=list(comments),
        write_dir=str(folder),
        **arguments,
    )
    return folder / f"{record_name}.hea"


# ---------------------------------------------------------------------------------------------------------
# Broken input
# ---------------------------------------------------------------------------------------------------------


def _element_offset(data: bytes, group: int, element: int, vr: bytes) -> int:
    """Where the value of an explicit VR little endian element with a 2-byte length starts in ``data``."""
    header = struct.pack("<HH", group, element) + vr
    position = data.find(header)
    if position < 0 or data.find(header, position + 1) >= 0:
        raise ValueError(f"({group:04X},{element:04X}) not found exactly once")
    return position + 8


def bad_files_write(root: str | os.PathLike[str], *, huge_bytes: int = 2 * 1024 * 1024) -> dict[str, Path]:
    """Write one of each kind of file a scan must survive; return them by name.

    ``empty`` (0 bytes), ``truncated`` (a DICOM cut inside an element's value), ``not_dicom`` (a PNG named
    .dcm), ``wrong_endian`` (meta says explicit VR little endian, the data set is big endian),
    ``huge_header`` (a private OB element of ``huge_bytes`` before the pixels: an error only when the scan's
    header limit is lower), ``broken_edf`` (header claims 19 signals, the file has 300 bytes),
    ``broken_wfdb`` (garbage ``.hea``), ``loop`` (``loop/self`` links back to the root), ``dangling``
    (a link to a file that does not exist).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    empty = root / "empty.dcm"
    empty.write_bytes(b"")
    written["empty"] = empty

    dicom_image_write(root / "_source.dcm", pixel_data=False, private=False)
    data = (root / "_source.dcm").read_bytes()
    (root / "_source.dcm").unlink()
    cut = _element_offset(data, 0x0008, 0x1030, b"LO") + 5  # inside StudyDescription's value
    truncated = root / "truncated.dcm"
    truncated.write_bytes(data[:cut])
    written["truncated"] = truncated

    not_dicom = root / "not_dicom.dcm"
    not_dicom.write_bytes(
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
        + b"\x00" * 4 + b"\x00" * 200
    )  # fmt: skip
    written["not_dicom"] = not_dicom

    big_endian = root / "wrong_endian.dcm"
    dicom_image_write(big_endian, private=False, transfer_syntax=ExplicitVRBigEndian)
    data = big_endian.read_bytes()
    meta_syntax = ExplicitVRBigEndian.encode("ascii") + b"\x00"
    if data.count(meta_syntax) != 1:
        raise ValueError("transfer syntax UID not found once in the file meta")
    big_endian.write_bytes(data.replace(meta_syntax, ExplicitVRLittleEndian.encode("ascii") + b"\x00"))
    written["wrong_endian"] = big_endian

    huge = root / "huge_header.dcm"
    dicom_image_write(huge, private=False, extra=None)
    ds = pydicom.dcmread(huge)
    block = ds.private_block(0x0029, "MEDBROKER HUGE", create=True)
    block.add_new(0x10, "OB", bytes(huge_bytes))
    ds.save_as(huge, enforce_file_format=True)
    written["huge_header"] = huge

    broken_edf = root / "broken.edf"
    header = (
        "0".ljust(8) + "X X X X".ljust(80) + "Startdate X X X X".ljust(80) + "05.01.24" + "09.30.00"
        + str(256 * 20).ljust(8) + "EDF+C".ljust(44) + "60".ljust(8) + "1".ljust(8) + "19".ljust(4)
    )  # fmt: skip
    broken_edf.write_bytes((header.encode("ascii") + b"E" * 300)[:300])
    written["broken_edf"] = broken_edf

    broken_wfdb = root / "broken.hea"
    broken_wfdb.write_bytes(b"\x00\xff garbage header ### 12 abc\nnot a signal line\n")
    written["broken_wfdb"] = broken_wfdb

    loop = root / "loop"
    loop.mkdir(exist_ok=True)
    (loop / "self").symlink_to("..", target_is_directory=True)
    written["loop"] = loop / "self"

    dangling = root / "dangling.dcm"
    dangling.symlink_to("does-not-exist.dcm")
    written["dangling"] = dangling
    return written


# ---------------------------------------------------------------------------------------------------------
# A mixed archive with known contents
# ---------------------------------------------------------------------------------------------------------

# Finding codes whose files are kept by a retain option (the values this module plants).
INSTITUTION_CODES = frozenset({"InstitutionName", "InstitutionAddress"})
DEVICE_CODES = frozenset({"StationName", "DeviceSerialNumber"})


@dataclass
class ArchiveManifest:
    """What ``archive_write`` wrote, stated in the units of the scan summary, so tests assert exact values.

    ``files`` counts every file (WFDB signal files and label files included); ``instances`` the DICOM
    files; ``patients`` distinct patient IDs (a WFDB record, which has none, is a patient of its own);
    ``cases`` image studies plus signal records. ``planted`` maps each file with a policy-independent
    finding to its codes; ``private`` each file with private elements to their keys;
    ``pseudonym_violations`` the files whose PatientID does not match ``PSEUDONYM_PATTERN``.
    """

    root: Path
    seed: int
    files: int = 0
    instances: int = 0
    patients: int = 0
    studies: int = 0
    series: int = 0
    modalities: dict[str, int] = field(default_factory=dict)
    signal_records: int = 0
    signal_formats: dict[str, int] = field(default_factory=dict)
    cases: int = 0
    annotated_by_objects: int = 0
    annotated_with_labels: int = 0
    label_patterns: tuple[str, ...] = (LABEL_PATTERN,)
    pseudonym_pattern: str = PSEUDONYM_PATTERN
    sex: dict[str, int] = field(default_factory=dict)
    age_bands: dict[str, int] = field(default_factory=dict)
    date_first: str = ""
    date_last: str = ""
    planted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    private: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pseudonym_violations: tuple[str, ...] = ()
    paths: dict[str, list[str]] = field(default_factory=dict)

    def file_findings(
        self,
        *,
        retain_institution_identity: bool = False,
        retain_device_identity: bool = False,
        private_safe_list: Iterable[str] = (),
        pseudonym_pattern: str = "",
    ) -> dict[str, set[str]]:
        """The finding codes each file must have under the policy given (files without any left out)."""
        safe = set(private_safe_list)
        result: dict[str, set[str]] = {}
        for path, codes in self.planted.items():
            for code in codes:
                if code in INSTITUTION_CODES and retain_institution_identity:
                    continue
                if code in DEVICE_CODES and retain_device_identity:
                    continue
                result.setdefault(path, set()).add(code)
        for path, keys in self.private.items():
            if any(key not in safe for key in keys):
                result.setdefault(path, set()).add("private")
        if pseudonym_pattern:
            for path in self.pseudonym_violations:
                result.setdefault(path, set()).add("PatientID.pseudonym")
        return result

    def findings(self, **policy: Any) -> dict[str, int]:
        """Files per finding code under the policy (keywords of ``file_findings``)."""
        counts: Counter[str] = Counter()
        for codes in self.file_findings(**policy).values():
            counts.update(codes)
        return dict(counts)

    def files_with_findings(self, **policy: Any) -> int:
        return len(self.file_findings(**policy))


AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+", "unknown")


def _age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return "90+" if age >= 90 else f"{age // 10 * 10}-{age // 10 * 10 + 9}"


class _ArchiveBuilder:
    """Keeps the counts while ``archive_write`` writes, so the manifest is what was written, not intended."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.manifest = ArchiveManifest(root=root, seed=seed)
        self.patient_number = 0
        self.patient_facts: dict[str, tuple[str, int | None]] = {}
        self.studies: set[str] = set()
        self.series: set[str] = set()
        self.modalities: Counter[str] = Counter()
        self.formats: Counter[str] = Counter()
        self.dates: list[str] = []
        self.planted: dict[str, list[str]] = {}

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def patient_new(self) -> tuple[str, str, int]:
        self.patient_number += 1
        sex = self.rng.choice(("M", "F"))
        age = self.rng.randint(18, 92)
        return f"KTL-{self.patient_number:04d}", sex, age

    def date_new(self) -> str:
        day = dt.date(2023, 1, 2) + dt.timedelta(days=self.rng.randint(0, 700))
        return day.strftime("%Y%m%d")

    def dicom(
        self,
        path: Path,
        *,
        group: str,
        modality: str,
        patient: str,
        sex: str,
        age: int | None,
        study_uid: str,
        series_uid: str,
        date: str,
    ) -> None:
        relative = self.relative(path)
        self.manifest.paths.setdefault(group, []).append(relative)
        self.manifest.files += 1
        self.manifest.instances += 1
        self.modalities[modality] += 1
        self.studies.add(study_uid)
        self.series.add(series_uid)
        self.patient_facts.setdefault(f"id:{patient}", (sex, age))
        self.dates.append(date)

    def signal(
        self,
        path: Path,
        *,
        group: str,
        fmt: str,
        patient: str,
        sex: str,
        age: int | None,
        date: str,
        companions: int = 0,
    ) -> None:
        relative = self.relative(path)
        self.manifest.paths.setdefault(group, []).append(relative)
        self.manifest.files += 1 + companions
        self.formats[fmt] += 1
        self.patient_facts.setdefault(f"id:{patient}" if patient else f"record:{relative}", (sex, age))
        if date:
            self.dates.append(date)

    def plant(self, path: Path, *codes: str) -> None:
        self.planted.setdefault(self.relative(path), []).extend(codes)

    def private(self, path: Path, *keys: str) -> None:
        self.manifest.private[self.relative(path)] = keys

    def finish(self, cases: int, annotated_by_objects: int, annotated_with_labels: int) -> ArchiveManifest:
        manifest = self.manifest
        manifest.patients = len(self.patient_facts)
        manifest.studies = len(self.studies)
        manifest.series = len(self.series)
        manifest.modalities = dict(self.modalities)
        manifest.signal_formats = dict(self.formats)
        manifest.signal_records = sum(self.formats.values())
        manifest.cases = cases
        manifest.annotated_by_objects = annotated_by_objects
        manifest.annotated_with_labels = annotated_with_labels
        sex: Counter[str] = Counter({"M": 0, "F": 0, "O": 0, "unknown": 0})
        ages: Counter[str] = Counter(dict.fromkeys(AGE_BANDS, 0))
        for patient_sex, age in self.patient_facts.values():
            sex[patient_sex or "unknown"] += 1
            ages[_age_band(age)] += 1
        manifest.sex = dict(sex)
        manifest.age_bands = dict(ages)
        if self.dates:
            first, last = min(self.dates), max(self.dates)
            manifest.date_first = f"{first[:4]}-{first[4:6]}-{first[6:]}"
            manifest.date_last = f"{last[:4]}-{last[4:6]}-{last[6:]}"
        manifest.planted = {path: tuple(codes) for path, codes in sorted(self.planted.items())}
        return manifest


def archive_write(
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    ct_studies: int = 2,
    slices: int = 5,
    mr_studies: int = 1,
    us: int = 2,
    mg: int = 2,
    es: int = 2,
    seg: bool = True,
    ecg: int = 2,
    eeg: int = 2,
    wfdb_records: int = 2,
    labels: bool = True,
    planted: bool = True,
) -> ArchiveManifest:
    """Write a small mixed archive as a hospital hands it over, and return its exact contents.

    Images lie in ``<patient>/<modality>_<date>/SE<nnn>/<nnnn>.dcm``: ``ct_studies`` CT studies of one
    series of ``slices`` slices (each a patient of its own, makes and slice thicknesses varying),
    ``mr_studies`` MR studies of two series, one study each of ``us`` ultrasound, ``mg`` mammography and
    ``es`` endoscopy images, ``ecg`` DICOM ECGs (a study each). With ``seg`` the first CT study also holds
    a Segmentation; with ``labels`` the last CT study's folder holds a sidecar ``annotation.label.json``
    (an annotation only when the scan's label patterns include ``*.label.json``). Signals lie in
    ``signals/eeg`` (``eeg`` recordings, the second one BDF+, the others EDF+) and ``signals/ecg``
    (``wfdb_records`` WFDB records: ``.hea`` and ``.dat``).

    With ``planted`` these carry what the audit must find: CT 1 slice 1 a patient name, slice 2 a birth date,
    and every CT 1 slice the private block ``0019,xx10@MEDBROKER TEST``; CT 2 slice 1 a resident
    registration number in PatientComments, slice 2 a telephone number in RequestedProcedureDescription,
    slice 3 a Siemens private block; MR series 1 image 1 the institution name and address, series 2 image 1
    the station name and device serial number; US image 1 BurnedInAnnotation YES; ES image 1 no
    BurnedInAnnotation (a burned-in text risk); MG image 1 PatientIdentityRemoved NO; the second ECG a
    hospital record number instead of a pseudonym; EEG 1 a patient name, EEG 2 a technician; WFDB record
    1 a free-text comment. Without it the archive has no finding at all.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if planted and ct_studies and slices < 3:
        raise ValueError("planted findings need at least 3 slices per CT series")
    build = _ArchiveBuilder(root, seed)
    cases = 0
    annotated_by_objects = 0
    annotated_with_labels = 0

    # CT: a series per study.
    for index in range(ct_studies):
        patient, sex, age = build.patient_new()
        date = build.date_new()
        manufacturer, model = CT_MODELS[index % len(CT_MODELS)]
        thickness = (1.0, 5.0, 0.625, 3.0)[index % 4]
        kvp = (120, 100, 120, 80)[index % 4]
        study_uid = uid_make(seed, "ct-study", index)
        series_uid = uid_make(seed, "ct-series", index)
        folder = root / patient / f"CT_{date}" / "SE001"
        instance_uids = []
        first, last = index == 0, index == ct_studies - 1 and ct_studies > 1
        for number in range(1, slices + 1):
            path = folder / f"{number:04d}.dcm"
            identifying: dict[str, str] = {}
            creator = PRIVATE_CREATOR
            private = False
            if planted and first:
                private = True
                if number == 1:
                    identifying["PatientName"] = "홍길동"
                    build.plant(path, "PatientName")
                elif number == 2:
                    identifying["PatientBirthDate"] = "19610203"
                    build.plant(path, "PatientBirthDate")
            if planted and last:
                if number == 1:
                    identifying["PatientComments"] = "주민번호 610203-1234567 확인"
                    build.plant(path, "PatientComments", "text.resident_number")
                elif number == 2:
                    identifying["RequestedProcedureDescription"] = "복부 CT, 보호자 연락처 010-2345-6789"
                    build.plant(path, "text.phone")
                elif number == 3:
                    private, creator = True, "SIEMENS CT VA0  COAD"
            sop_instance_uid = f"{series_uid}.{number}"
            dicom_image_write(
                path,
                modality="CT",
                patient_id=patient,
                study_uid=study_uid,
                series_uid=series_uid,
                sop_instance_uid=sop_instance_uid,
                instance=number,
                sex=sex,
                age_years=age,
                study_date=date,
                manufacturer=manufacturer,
                model=model,
                slice_thickness=thickness,
                kvp=kvp,
                identifying=identifying,
                private=private,
                private_creator=creator,
            )
            if private:
                build.private(path, f"{PRIVATE_GROUP:04X},xx10@{creator}")
            instance_uids.append(sop_instance_uid)
            build.dicom(
                path,
                group="ct",
                modality="CT",
                patient=patient,
                sex=sex,
                age=age,
                study_uid=study_uid,
                series_uid=series_uid,
                date=date,
            )
        cases += 1
        if seg and first:
            seg_series = uid_make(seed, "seg-series", index)
            path = dicom_seg_write(
                root / patient / f"CT_{date}" / "SE900" / "0001.dcm",
                patient_id=patient,
                study_uid=study_uid,
                referenced_series_uid=series_uid,
                referenced_instance_uids=instance_uids,
                series_uid=seg_series,
                rows=64,
                columns=64,
                sex=sex,
                age_years=age,
                study_date=date,
            )
            build.dicom(
                path,
                group="seg",
                modality="SEG",
                patient=patient,
                sex=sex,
                age=age,
                study_uid=study_uid,
                series_uid=seg_series,
                date=date,
            )
            annotated_by_objects += 1
        if labels and index == ct_studies - 1:
            label = root / patient / f"CT_{date}" / "annotation.label.json"
            label.write_text(
                json.dumps(
                    {"study": study_uid, "labels": [{"slice": 1, "class": "tumor"}]}, ensure_ascii=False
                ),
                encoding="utf-8",
            )
            build.manifest.paths.setdefault("labels", []).append(build.relative(label))
            build.manifest.files += 1
            if not (seg and first):
                annotated_with_labels += 1

    # MR: two series per study.
    for index in range(mr_studies):
        patient, sex, age = build.patient_new()
        date = build.date_new()
        manufacturer, model, strength = MR_MODELS[index % len(MR_MODELS)]
        study_uid = uid_make(seed, "mr-study", index)
        for series_number, description in ((1, "t1_se_tra"), (2, "t2_tse_tra")):
            series_uid = uid_make(seed, "mr-series", index, series_number)
            for number in range(1, slices + 1):
                path = root / patient / f"MR_{date}" / f"SE{series_number:03d}" / f"{number:04d}.dcm"
                identifying = {}
                if planted and index == 0 and number == 1 and series_number == 1:
                    identifying = {
                        "InstitutionName": "대구병원",
                        "InstitutionAddress": "대구광역시 중구 달구벌대로 1",
                    }
                    build.plant(path, "InstitutionName", "InstitutionAddress")
                if planted and index == 0 and number == 1 and series_number == 2:
                    identifying = {"StationName": "MRC45123", "DeviceSerialNumber": "45123"}
                    build.plant(path, "StationName", "DeviceSerialNumber")
                dicom_image_write(
                    path,
                    modality="MR",
                    patient_id=patient,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    instance=number,
                    series_number=series_number,
                    sex=sex,
                    age_years=age,
                    study_date=date,
                    manufacturer=manufacturer,
                    model=model,
                    field_strength=strength,
                    identifying=identifying,
                    private=False,
                    extra={"SeriesDescription": description},
                )
                build.dicom(
                    path,
                    group="mr",
                    modality="MR",
                    patient=patient,
                    sex=sex,
                    age=age,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    date=date,
                )
        cases += 1

    # One study each of ultrasound, mammography and endoscopy.
    for modality, count in (("US", us), ("MG", mg), ("ES", es)):
        if not count:
            continue
        patient, sex, age = build.patient_new()
        if modality == "MG":
            sex = "F"
        date = build.date_new()
        study_uid = uid_make(seed, modality, "study")
        series_uid = uid_make(seed, modality, "series")
        for number in range(1, count + 1):
            path = root / patient / f"{modality}_{date}" / "SE001" / f"{number:04d}.dcm"
            burned_in: str | None = "NO" if modality in ("US", "ES") else None
            identity_removed = "YES"
            if planted and number == 1:
                if modality == "US":
                    burned_in = "YES"
                    build.plant(path, "BurnedInAnnotation")
                elif modality == "ES":
                    burned_in = None
                    build.plant(path, "burned_in_risk")
                else:
                    identity_removed = "NO"
                    build.plant(path, "PatientIdentityRemoved")
            dicom_image_write(
                path,
                modality=modality,
                patient_id=patient,
                study_uid=study_uid,
                series_uid=series_uid,
                instance=number,
                sex=sex,
                age_years=age,
                study_date=date,
                private=False,
                burned_in=burned_in,
                identity_removed=identity_removed,
                laterality="LR"[(number - 1) // 2 % 2],
                view=("CC", "MLO")[(number - 1) % 2],
            )
            build.dicom(
                path,
                group=modality.lower(),
                modality=modality,
                patient=patient,
                sex=sex,
                age=age,
                study_uid=study_uid,
                series_uid=series_uid,
                date=date,
            )
        cases += 1

    # DICOM ECGs: a study each.
    for index in range(ecg):
        patient, sex, age = build.patient_new()
        date = build.date_new()
        study_uid = uid_make(seed, "ecg-study", index)
        series_uid = uid_make(seed, "ecg-series", index)
        path = root / patient / f"ECG_{date}" / "SE001" / "0001.dcm"
        if planted and index == 1:
            # The hospital's record number slipped through instead of the pseudonym: the folder keeps the
            # pseudonym, the header does not.
            header_patient = "00123456"
            build.manifest.pseudonym_violations += (build.relative(path),)
        else:
            header_patient = patient
        dicom_ecg_write(
            path,
            patient_id=header_patient,
            study_uid=study_uid,
            series_uid=series_uid,
            sex=sex,
            age_years=age,
            study_date=date,
            seconds=2,
            seed=seed + index,
        )
        build.dicom(
            path,
            group="ecg",
            modality="ECG",
            patient=header_patient,
            sex=sex,
            age=age,
            study_uid=study_uid,
            series_uid=series_uid,
            date=date,
        )
        build.formats["DICOM-ECG"] += 1
        cases += 1

    # EEG: EDF+ (the second BDF+), a few seconds each.
    for index in range(eeg):
        patient, sex, age = build.patient_new()
        date = build.date_new()
        bdf = index == 1
        path = root / "signals" / "eeg" / f"eeg_{index + 1:03d}.{'bdf' if bdf else 'edf'}"
        name, technician = "X", "X"
        if planted and index == 0:
            name = "Hong Gildong"
            build.plant(path, "edf.patient_name")
        if planted and index == 1:
            technician = "Kim Minsu"
            build.plant(path, "edf.recording_technician")
        start = dt.datetime(int(date[:4]), int(date[4:6]), int(date[6:]), 10, 0, tzinfo=KST)
        edf_write(
            path,
            channels=19,
            sampling_hz=256,
            seconds=2,
            patient_code=patient,
            sex=sex,
            patient_name=name,
            technician=technician,
            equipment="Nihon Kohden EEG-1200",
            start=start,
            bdf=bdf,
            seed=seed + index,
        )
        # EDF+ states no age without a birth date, and the birth date is never kept.
        build.signal(
            path, group="eeg", fmt="BDF+" if bdf else "EDF+", patient=patient, sex=sex, age=None, date=date
        )

    # WFDB: 12-lead ECG records, no patient ID (each record is a patient of its own).
    for index in range(wfdb_records):
        sex = build.rng.choice(("M", "F"))
        age = build.rng.randint(18, 92)
        date = build.date_new()
        comments = [f"age: {age}", f"sex: {sex}", "dx: sinus rhythm"]
        name = f"rec_{index + 1:03d}"
        folder = root / "signals" / "ecg"
        if planted and index == 0:
            comments.append("referred by Dr. Park, cardiology ward 7")
            build.plant(folder / f"{name}.hea", "wfdb.comments")
        start = dt.datetime(int(date[:4]), int(date[4:6]), int(date[6:]), 8, 15, tzinfo=KST)
        path = wfdb_write(folder, name, seconds=2, comments=comments, base_datetime=start, seed=seed + index)
        build.signal(path, group="wfdb", fmt="WFDB", patient="", sex=sex, age=age, date=date, companions=1)

    cases += eeg + wfdb_records
    return build.finish(cases, annotated_by_objects, annotated_with_labels)


# ---------------------------------------------------------------------------------------------------------
# The benchmark archive: many CT slices, written fast
# ---------------------------------------------------------------------------------------------------------

SERIES_PER_STUDY = 2
_INSTANCE_OFFSET = 100000  # instance UID arcs are 100000 + n: fixed width, no leading zero
_INSTANCE_SENTINEL = "990099"
_POSITION_SENTINEL = "-99999.999"  # the width of every z written: "%010.3f"


@dataclass
class CtArchiveManifest:
    """What ``ct_archive_write`` wrote: the figures the benchmark checks the scanner's summary against."""

    files: int
    patients: int
    studies: int
    series: int
    slices_per_series: int
    seed: int
    rows: int = 512
    columns: int = 512
    bytes_total: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _SeriesJob:
    root: str
    seed: int
    series_index: int
    slices: int


def _ct_pixels(seed: int) -> bytes:
    """A body-like 512×512 slice: air around a water-density ellipse with noise, stored values (HU + 1024)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((yy - 256) / 200) ** 2 + ((xx - 256) / 240) ** 2 < 1
    values = np.where(body, 1064.0, 24.0) + rng.normal(0, 12, (512, 512))
    return np.clip(values, 0, 4095).astype("<u2").tobytes()


_PIXELS: dict[int, bytes] = {}


def _ct_series_template(job: _SeriesJob) -> tuple[bytes, list[tuple[int, int, Callable[[int], bytes]]], str]:
    """The header bytes of one slice of the series, and the places patched per slice."""
    study_index = job.series_index // SERIES_PER_STUDY
    series_number = job.series_index % SERIES_PER_STUDY + 1
    rng = random.Random(f"{job.seed}/{study_index}")  # noqa: S311 (test data, not secrets)
    patient = f"KTL-B{study_index + 1:05d}"
    date = (dt.date(2022, 1, 3) + dt.timedelta(days=rng.randint(0, 900))).strftime("%Y%m%d")
    manufacturer, model = CT_MODELS[study_index % len(CT_MODELS)]
    thickness = (1.0, 5.0)[series_number - 1]
    study_uid = uid_make(job.seed, "bench-study", study_index)
    series_uid = uid_make(job.seed, "bench-series", job.series_index)
    ds = _image_dataset(
        modality="CT",
        patient_id=patient,
        study_uid=study_uid,
        series_uid=series_uid,
        sop_instance_uid=f"{series_uid}.{_INSTANCE_SENTINEL}",
        instance=1,
        series_number=series_number,
        sex=rng.choice(("M", "F")),
        age_years=rng.randint(20, 89),
        study_date=date,
        body_part=None,
        manufacturer=manufacturer,
        model=model,
        rows=512,
        columns=512,
        identifying=None,
        private=True,
        private_creator=PRIVATE_CREATOR,
        identity_removed="YES",
        burned_in=None,
        image_type=None,
        sop_class=None,
        slice_thickness=thickness,
        kvp=120,
        field_strength=None,
        pixel_spacing=None,
        laterality="L",
        view="CC",
        extra=None,
    )
    ds.InstanceNumber = _INSTANCE_SENTINEL
    ds.ImagePositionPatient = ["-180.0", "-180.0", _POSITION_SENTINEL]
    ds.SliceLocation = _POSITION_SENTINEL
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationVersionName = "MEDBROKER_TEST"
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    header = buffer.getvalue()

    def instance_text(number: int) -> bytes:
        return f"{_INSTANCE_OFFSET + number}".encode("ascii")

    def number_text(number: int) -> bytes:
        return f"{number:<6d}".encode("ascii")

    def position_text(number: int) -> bytes:
        return f"{-thickness * number:010.3f}".encode("ascii")

    patches: list[tuple[int, int, Callable[[int], bytes]]] = []
    for sentinel, count, render in (
        (f"{series_uid}.{_INSTANCE_SENTINEL}".encode("ascii"), 2, instance_text),
        (_POSITION_SENTINEL.encode("ascii"), 2, position_text),
    ):
        start = 0
        found = 0
        while (position := header.find(sentinel, start)) >= 0:
            if render is instance_text:
                offset = position + len(series_uid) + 1
                patches.append((offset, len(_INSTANCE_SENTINEL), render))
            else:
                patches.append((position, len(sentinel), render))
            start = position + 1
            found += 1
        if found != count:
            raise RuntimeError(f"{sentinel!r} found {found} times in the template, expected {count}")
    number_at = _element_offset(header[132:], 0x0020, 0x0013, b"IS") + 132
    if header[number_at : number_at + len(_INSTANCE_SENTINEL)] != _INSTANCE_SENTINEL.encode("ascii"):
        raise RuntimeError("InstanceNumber not where expected in the template")
    patches.append((number_at, len(_INSTANCE_SENTINEL), number_text))
    folder = f"{patient}/CT_{date}/SE{series_number:03d}"
    return header, patches, folder


def _ct_series_write(job: _SeriesJob) -> tuple[int, int]:
    """Write one series; return its slices and bytes."""
    pixels = _PIXELS.get(job.seed)
    if pixels is None:
        pixels = _PIXELS[job.seed] = _ct_pixels(job.seed)
    header, patches, folder = _ct_series_template(job)
    pixel_element = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, len(pixels))
    target = Path(job.root) / folder
    target.mkdir(parents=True, exist_ok=True)
    size = len(header) + len(pixel_element) + len(pixels)
    for number in range(1, job.slices + 1):
        data = bytearray(header)
        for offset, width, render in patches:
            value = render(number)
            if len(value) != width:
                raise RuntimeError(f"patched value {value!r} is not {width} bytes wide")
            data[offset : offset + width] = value
        with open(target / f"{number:05d}.dcm", "wb") as handle:
            handle.write(data)
            handle.write(pixel_element)
            handle.write(pixels)
    return job.slices, size * job.slices


def ct_archive_write(
    root: str | os.PathLike[str],
    *,
    files: int = 20000,
    slices_per_series: int = 200,
    seed: int = 0,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> CtArchiveManifest:
    """Write ``files`` CT slices of 512×512 (``slices_per_series`` a series, two series a study).

    The header of each series is built once with pydicom; each slice patches its InstanceNumber,
    SOPInstanceUID (twice: meta and data set) and z position into a copy of those bytes, all of fixed
    width, and appends the same noisy body-like pixel data: the files are what pydicom would write, at disk
    speed. ``progress(done, total)`` is called in this process as series finish.
    """
    if files <= 0 or slices_per_series <= 0:
        raise ValueError("files and slices_per_series must be positive")
    if slices_per_series >= 1000000 - _INSTANCE_OFFSET:
        raise ValueError("slices_per_series too large for the fixed-width instance numbers")
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    series = -(-files // slices_per_series)
    jobs = [
        _SeriesJob(str(root_path), seed, index, min(slices_per_series, files - index * slices_per_series))
        for index in range(series)
    ]
    done = 0
    written = 0
    if progress:
        progress(0, files)
    if workers <= 1:
        for job in jobs:
            slices, size = _ct_series_write(job)
            done += slices
            written += size
            if progress:
                progress(done, files)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_ct_series_write, job) for job in jobs]
            for future in as_completed(futures):
                slices, size = future.result()
                done += slices
                written += size
                if progress:
                    progress(done, files)
    studies = -(-series // SERIES_PER_STUDY)
    return CtArchiveManifest(
        files=files,
        patients=studies,
        studies=studies,
        series=series,
        slices_per_series=slices_per_series,
        seed=seed,
        bytes_total=written,
    )
