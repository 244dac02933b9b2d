"""Reading a DICOM file's header into a ``FileRecord``, never its pixel data.

The fast path walks the data elements of the file's first bytes itself: tag, VR, length, and the value
only for the few attributes the key information and the audit need. That is about ten times faster than
``pydicom.dcmread(stop_before_pixels=True)``, which builds a full ``Dataset`` of every element, and it is
what lets a scan keep up with archives of millions of files on a few cores. It covers the transfer
syntaxes that hold nearly every archive (implicit and explicit VR little endian, and the compressed ones,
whose headers are explicit VR little endian); anything else (big endian, deflated, files without the
"DICM" preamble, a header the fast path finds inconsistent) goes to pydicom, and the tests hold both
paths to the same values.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from typing import Any

from medbroker.ingest.scanner.deid import IDENTIFYING_KEYWORDS, text_findings
from medbroker.ingest.scanner.records import FileKind, FileRecord

FIRST_READ_BYTES = 64 * 1024
DEFAULT_MAX_HEADER_BYTES = 64 * 1024 * 1024

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
# Transfer syntaxes whose data set is not explicit or implicit VR little endian: read by pydicom.
_NOT_FAST = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})

# The SOP classes that hold annotations of a study: segmentations, RT structure sets, structured reports.
ANNOTATION_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.66.7",  # Label Map Segmentation
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.88.",  # Structured reports
)
ANNOTATION_MODALITIES = frozenset({"SEG", "RTSTRUCT", "SR"})
# Waveform SOP classes (ECG, hemodynamic, …) share this root.
WAVEFORM_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.9."


class DicomReadError(Exception):
    """A file that cannot be read as DICOM; the message is the readable reason shown to the steward."""


class _NeedMore(Exception):
    pass


class _Fallback(Exception):
    pass


_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
     b"ST", b"TM", b"UI", b"UL", b"US"}
)  # fmt: skip
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_GROUP = 0x7FE00000

_unpack_explicit = struct.Struct("<HH2sH").unpack_from
_unpack_tag_length = struct.Struct("<HHI").unpack_from
_unpack_u32 = struct.Struct("<I").unpack_from
_unpack_u16 = struct.Struct("<H").unpack_from

# Tags whose values the record needs, and the field each fills.
_T_CHARSET = 0x00080005
_T_IMAGE_TYPE = 0x00080008
_T_SOP_CLASS = 0x00080016
_T_STUDY_DATE = 0x00080020
_T_MODALITY = 0x00080060
_T_MANUFACTURER = 0x00080070
_T_MODEL = 0x00081090
_T_PATIENT_ID = 0x00100020
_T_BIRTH_DATE = 0x00100030
_T_SEX = 0x00100040
_T_AGE = 0x00101010
_T_IDENTITY_REMOVED = 0x00120062
_T_BODY_PART = 0x00180015
_T_SLICE_THICKNESS = 0x00180050
_T_KVP = 0x00180060
_T_FIELD_STRENGTH = 0x00180087
_T_STUDY_UID = 0x0020000D
_T_SERIES_UID = 0x0020000E
_T_ROWS = 0x00280010
_T_COLUMNS = 0x00280011
_T_PIXEL_SPACING = 0x00280030
_T_BURNED_IN = 0x00280301
_T_WAVEFORM_SEQUENCE = 0x54000100
_T_WAVEFORM_CHANNELS = 0x003A0005
_T_WAVEFORM_SAMPLES = 0x003A0010
_T_WAVEFORM_FREQUENCY = 0x003A001A
_WANTED = frozenset(
    {
        _T_CHARSET,
        _T_IMAGE_TYPE,
        _T_SOP_CLASS,
        _T_STUDY_DATE,
        _T_MODALITY,
        _T_MANUFACTURER,
        _T_MODEL,
        _T_PATIENT_ID,
        _T_BIRTH_DATE,
        _T_SEX,
        _T_AGE,
        _T_IDENTITY_REMOVED,
        _T_BODY_PART,
        _T_SLICE_THICKNESS,
        _T_KVP,
        _T_FIELD_STRENGTH,
        _T_STUDY_UID,
        _T_SERIES_UID,
        _T_ROWS,
        _T_COLUMNS,
        _T_PIXEL_SPACING,
        _T_BURNED_IN,
    }
)
# The length of an element's header in explicit VR, by VR: 12 for the VRs with a 4-byte length.
_VR_HEADER = {**dict.fromkeys(_SHORT_VRS, 8), **dict.fromkeys(_LONG_VRS, 12)}


def _identifying_tags() -> dict[int, str]:
    from pydicom.datadict import tag_for_keyword

    tags: dict[int, str] = {}
    for keyword in IDENTIFYING_KEYWORDS:
        tag = tag_for_keyword(keyword)
        if tag is not None:
            tags[int(tag)] = keyword
    return tags


IDENTIFYING_TAGS = _identifying_tags()
# Every tag the walk must stop at: one set lookup per element decides whether to look closer.
_INTERESTING = frozenset(_WANTED | IDENTIFYING_TAGS.keys() | {_T_WAVEFORM_SEQUENCE})


# ---------------------------------------------------------------------------------------------------------
# Value helpers shared by both paths
# ---------------------------------------------------------------------------------------------------------


def _float(text: str) -> float | None:
    first = text.split("\\", 1)[0].strip()
    if not first:
        return None
    try:
        value = float(first)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def age_from_text(age: str) -> int | None:
    """Whole years of a DICOM Age String ("063Y" → 63, "006M" → 0); None when malformed."""
    age = age.strip()
    if len(age) != 4 or not age[:3].isdigit():
        return None
    number, unit = int(age[:3]), age[3].upper()
    if unit == "Y":
        return number
    if unit == "M":
        return number // 12
    if unit in ("W", "D"):
        return 0
    return None


def age_from_dates(birth: str, on: str) -> int | None:
    """Whole years between two YYYYMMDD dates; None when either is missing or malformed."""
    try:
        born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
        day = dt.date(int(on[:4]), int(on[4:6]), int(on[6:8]))
    except (ValueError, IndexError):
        return None
    if len(birth) < 8 or len(on) < 8 or day < born:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def date_clean(value: str) -> str:
    """A DICOM date as YYYYMMDD, or "" when it is not a valid date."""
    value = value.strip()
    if len(value) != 8 or not value.isdigit():
        return ""
    try:
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return ""
    return value


def sex_clean(value: str) -> str:
    value = value.strip().upper()
    return value if value in ("M", "F", "O") else ""


def is_annotation(sop_class_uid: str, modality: str) -> bool:
    return modality in ANNOTATION_MODALITIES or sop_class_uid.startswith(ANNOTATION_SOP_PREFIXES)


# ---------------------------------------------------------------------------------------------------------
# The fast path
# ---------------------------------------------------------------------------------------------------------


def _text(raw: bytes, encodings: list[str] | None) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        from pydicom.charset import decode_bytes

        text = decode_bytes(raw, encodings or ["iso8859"], set())
    return text.strip(" \x00")


def _need_more(complete: bool) -> Exception:
    return DicomReadError("truncated") if complete else _NeedMore()


# Sequences nest a few levels in real files (a code item inside a content item inside a report); a file
# nesting deeper is corrupt or hostile, and following it would exhaust the stack.
MAX_SEQUENCE_DEPTH = 32


def _skip_items(buf: bytes, pos: int, explicit: bool, complete: bool, depth: int = 1) -> int:
    """Position after a sequence of undefined length whose first item tag is at ``pos``."""
    if depth > MAX_SEQUENCE_DEPTH:
        raise DicomReadError("depth")
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _need_more(complete)
        group, element, length = _unpack_tag_length(buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise DicomReadError("sequence")
        if length == _UNDEFINED:
            pos = _skip_item_elements(buf, pos, explicit, complete, depth)
        else:
            pos += length
            if pos > n:
                raise _need_more(complete)


def _skip_item_elements(buf: bytes, pos: int, explicit: bool, complete: bool, depth: int) -> int:
    """Position after an item of undefined length: its elements up to the item delimiter."""
    n = len(buf)
    while pos + 8 <= n:
        if explicit:
            group, element, vr, length = _unpack_explicit(buf, pos)
            if group == 0xFFFE:
                if ((group << 16) | element) == _ITEM_END:
                    return pos + 8
                raise DicomReadError("sequence")
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    break
                length = _unpack_u32(buf, pos + 8)[0]
                pos += 12
            elif vr in _SHORT_VRS:
                pos += 8
            else:
                raise DicomReadError("vr")
        else:
            group, element, length = _unpack_tag_length(buf, pos)
            if group == 0xFFFE:
                if ((group << 16) | element) == _ITEM_END:
                    return pos + 8
                raise DicomReadError("sequence")
            vr = b""
            pos += 8
        if length == _UNDEFINED:
            pos = _skip_items(buf, pos, explicit and vr != b"UN", complete, depth + 1)
            continue
        pos += length
    raise _need_more(complete)


class _Header:
    """What the walk over a data set's top level collects."""

    __slots__ = ("creators", "end", "identifying", "private", "values", "waveform")

    def __init__(self) -> None:
        self.values: dict[int, bytes] = {}
        self.identifying: list[str] = []
        self.creators: dict[tuple[int, int], bytes] = {}
        self.private: list[tuple[int, int]] = []
        self.waveform: bytes | None = None
        self.end = 0


def _walk(buf: bytes, pos: int, explicit: bool, complete: bool) -> _Header:
    """Walk the top-level elements from ``pos`` to the pixel data (or the end); collect what the record needs.

    This loop is the scanner's hot path: every element of every file passes through it once. It keeps to
    local names, one dictionary lookup for the VR and one set lookup for the tag, and checks the buffer's
    end once after the loop rather than per element: a read past the end shows as ``pos > n`` or as
    ``struct.error`` from the next unpack, and either means the header goes on beyond what was read.
    """
    header = _Header()
    values = header.values
    identifying = header.identifying
    interesting = _INTERESTING
    identifying_tags = IDENTIFYING_TAGS
    vr_header = _VR_HEADER
    unpack_explicit, unpack_tag_length, unpack_u32 = _unpack_explicit, _unpack_tag_length, _unpack_u32
    n = len(buf)
    reached_pixels = False
    try:
        while pos < n:
            if explicit:
                group, element, vr, length = unpack_explicit(buf, pos)
                header_length = vr_header.get(vr)
                if header_length is None:
                    raise DicomReadError("sequence" if group == 0xFFFE else "vr")
                if header_length == 12:
                    length = unpack_u32(buf, pos + 8)[0]
                pos += header_length
            else:
                group, element, length = unpack_tag_length(buf, pos)
                vr = b""
                pos += 8
            if group >= 0x7FE0:
                if group == 0xFFFE:
                    raise DicomReadError("sequence")
                reached_pixels = True
                break
            tag = (group << 16) | element
            if length == _UNDEFINED:
                # A sequence (or an undefined-length UN holding one): walk its items to find its end.
                if group & 1 and group > 0x0008 and element >= 0x1000:
                    header.private.append((group, element))
                start = pos
                pos = _skip_items(buf, pos, explicit and vr != b"UN", complete)
                if tag == _T_WAVEFORM_SEQUENCE:
                    header.waveform = buf[start:pos]
                elif tag in identifying_tags and pos - start > 8:
                    identifying.append(identifying_tags[tag])
                continue
            if tag in interesting:
                end = pos + length
                if tag in identifying_tags:
                    if length and buf[pos:end].strip(b" \x00"):
                        identifying.append(identifying_tags[tag])
                    if tag == _T_BIRTH_DATE:
                        values[tag] = buf[pos:end]
                elif tag == _T_WAVEFORM_SEQUENCE:
                    header.waveform = buf[pos:end]
                else:
                    values[tag] = buf[pos:end]
            elif group & 1 and group > 0x0008:
                if element >= 0x1000:
                    header.private.append((group, element))
                elif 0x0010 <= element < 0x0100:
                    header.creators[(group, element)] = buf[pos : pos + length]
            pos += length
    except struct.error:
        raise _need_more(complete) from None
    if pos > n or (pos == n and not reached_pixels and not complete):
        # Past the end, or exactly at the end of a partial read: the header may go on in the next bytes.
        raise _need_more(complete)
    header.end = pos
    return header


def _waveform(data: bytes, explicit: bool) -> tuple[int | None, int | None, float | None]:
    """Channels, samples and sampling frequency of the first multiplex group of a WaveformSequence."""
    pos = 0
    n = len(data)
    if pos + 8 > n:
        return None, None, None
    group, element, length = _unpack_tag_length(data, pos)
    if ((group << 16) | element) != _ITEM:
        return None, None, None
    pos += 8
    item_end = n if length == _UNDEFINED else min(n, pos + length)
    channels = samples = None
    frequency = None
    while pos + 8 <= item_end:
        if explicit:
            group, element, vr, length = _unpack_explicit(data, pos)
            if vr in _LONG_VRS:
                length = _unpack_u32(data, pos + 8)[0]
                pos += 12
            else:
                pos += 8
        else:
            group, element, length = _unpack_tag_length(data, pos)
            pos += 8
        tag = (group << 16) | element
        if tag in (_ITEM_END, _SEQUENCE_END) or length == _UNDEFINED:
            break
        value = data[pos : pos + length]
        if tag == _T_WAVEFORM_CHANNELS and length >= 2:
            channels = _unpack_u16(value)[0]
        elif tag == _T_WAVEFORM_SAMPLES and length >= 4:
            samples = _unpack_u32(value)[0]
        elif tag == _T_WAVEFORM_FREQUENCY:
            frequency = _float(value.decode("ascii", "replace").strip(" \x00"))
        pos += length
    return channels, samples, frequency


def _meta(buf: bytes) -> tuple[str, int]:
    """The transfer syntax and where the data set starts, from the file meta group after the preamble."""
    pos = 132
    n = len(buf)
    syntax = ""
    while pos + 8 <= n:
        group, element, vr, length = _unpack_explicit(buf, pos)
        if group != 0x0002:
            return syntax, pos
        if vr in _LONG_VRS:
            length = _unpack_u32(buf, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        if pos + length > n:
            raise _NeedMore
        if element == 0x0010:
            syntax = buf[pos : pos + length].decode("ascii", "replace").strip(" \x00")
        pos += length
    raise _NeedMore


# The tags whose values become the record's fields, in the order of ``_FIELD_NAMES``' sources.
_FIELD_TAGS = (
    _T_CHARSET,
    _T_SOP_CLASS,
    _T_MODALITY,
    _T_PATIENT_ID,
    _T_STUDY_UID,
    _T_SERIES_UID,
    _T_BODY_PART,
    _T_MANUFACTURER,
    _T_MODEL,
    _T_SLICE_THICKNESS,
    _T_KVP,
    _T_FIELD_STRENGTH,
    _T_PIXEL_SPACING,
    _T_ROWS,
    _T_COLUMNS,
    _T_SEX,
    _T_STUDY_DATE,
    _T_AGE,
    _T_BIRTH_DATE,
    _T_IMAGE_TYPE,
    _T_BURNED_IN,
    _T_IDENTITY_REMOVED,
)
_FIELD_NAMES = (
    "sop_class_uid",
    "modality",
    "patient_id",
    "study_uid",
    "series_uid",
    "body_part",
    "manufacturer",
    "model",
    "slice_thickness",
    "kvp",
    "field_strength",
    "pixel_spacing",
    "rows",
    "columns",
    "sex",
    "date",
    "age_years",
    "image_type",
    "burned_in_annotation",
    "identity_removed",
)
# Converted fields by their raw values. The slices of a series carry the same values for every one of
# these tags (the UIDs that differ per slice are not among them), so a scan converts each series once.
_CONVERTED: dict[tuple[bytes | None, ...], tuple[Any, ...]] = {}
_CONVERTED_LIMIT = 4096
_PRIVATE_KEYS: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _encodings(charset: bytes | None) -> list[str] | None:
    if charset and charset.strip(b" \x00") not in (b"", b"ISO_IR 6"):
        from pydicom.charset import convert_encodings

        return convert_encodings(charset.decode("ascii", "replace").strip(" \x00").split("\\"))
    return None


def _fields_convert(raw: tuple[bytes | None, ...]) -> tuple[Any, ...]:
    """The record's field values, in ``_FIELD_NAMES`` order, from the raw values in ``_FIELD_TAGS`` order."""
    encodings = _encodings(raw[0])
    values = dict(zip(_FIELD_TAGS, raw, strict=True))

    def text(tag: int) -> str:
        value = values[tag]
        return _text(value, encodings) if value else ""

    rows, columns = values[_T_ROWS], values[_T_COLUMNS]
    date = date_clean(text(_T_STUDY_DATE))
    age = age_from_text(text(_T_AGE))
    image_type = text(_T_IMAGE_TYPE)
    return (
        text(_T_SOP_CLASS),
        text(_T_MODALITY),
        text(_T_PATIENT_ID),
        text(_T_STUDY_UID),
        text(_T_SERIES_UID),
        text(_T_BODY_PART),
        text(_T_MANUFACTURER),
        text(_T_MODEL),
        _float(text(_T_SLICE_THICKNESS)),
        _float(text(_T_KVP)),
        _float(text(_T_FIELD_STRENGTH)),
        _float(text(_T_PIXEL_SPACING)),
        _unpack_u16(rows)[0] if rows and len(rows) >= 2 else None,
        _unpack_u16(columns)[0] if columns and len(columns) >= 2 else None,
        sex_clean(text(_T_SEX)),
        date,
        age if age is not None else age_from_dates(text(_T_BIRTH_DATE), date),
        tuple(part.strip() for part in image_type.split("\\")) if image_type else (),
        text(_T_BURNED_IN).upper(),
        text(_T_IDENTITY_REMOVED).upper(),
    )


def _private_keys(header: _Header, charset: bytes | None) -> tuple[str, ...]:
    creators = header.creators
    cache_key = (charset, tuple(header.private), tuple(sorted(creators.items())))
    keys = _PRIVATE_KEYS.get(cache_key)
    if keys is None:
        encodings = _encodings(charset)
        private: list[str] = []
        for group, element in header.private:
            creator = creators.get((group, element >> 8))
            name = _text(creator, encodings) if creator else "?"
            private.append(f"{group:04X},xx{element & 0xFF:02X}@{name}")
        keys = tuple(dict.fromkeys(private))
        if len(_PRIVATE_KEYS) >= _CONVERTED_LIMIT:
            _PRIVATE_KEYS.clear()
        _PRIVATE_KEYS[cache_key] = keys
    return keys


def _record_fast(buf: bytes, complete: bool, record: FileRecord) -> FileRecord:
    syntax, start = _meta(buf)
    if not syntax or syntax in _NOT_FAST:
        raise _Fallback
    explicit = syntax != IMPLICIT_LITTLE
    header = _walk(buf, start, explicit, complete)
    values = header.values
    raw = tuple(map(values.get, _FIELD_TAGS))
    fields = _CONVERTED.get(raw)
    if fields is None:
        fields = _fields_convert(raw)
        if len(_CONVERTED) >= _CONVERTED_LIMIT:
            _CONVERTED.clear()
        _CONVERTED[raw] = fields
    for name, value in zip(_FIELD_NAMES, fields, strict=True):
        setattr(record, name, value)
    if header.private:
        record.private_tags = _private_keys(header, raw[0])
    identifying = list(dict.fromkeys(header.identifying))
    identifying.extend(text_findings(buf[start : header.end]))
    record.identifying = tuple(identifying)
    if header.waveform is not None:
        channels, samples, frequency = _waveform(header.waveform, explicit)
        _waveform_set(record, channels, samples, frequency)
    else:
        record.format = "DICOM"
    record.reader = "fast"
    return record


def _waveform_set(
    record: FileRecord, channels: int | None, samples: int | None, frequency: float | None
) -> None:
    record.format = "DICOM-ECG" if record.modality == "ECG" else "DICOM-WAVEFORM"
    record.channels = channels
    record.sampling_hz = frequency
    record.duration_s = round(samples / frequency, 3) if samples is not None and frequency else None


# ---------------------------------------------------------------------------------------------------------
# The pydicom path
# ---------------------------------------------------------------------------------------------------------


def _pydicom_text(dataset: Any, keyword: str) -> str:
    value = dataset.get(keyword)
    if value is None or value == "":
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(part) for part in value).strip(" \x00")
    return str(value).strip(" \x00")


def record_from_pydicom(dataset: Any, record: FileRecord) -> FileRecord:
    """Fill ``record`` from a pydicom ``Dataset`` with the same rules as the fast path."""
    from pydicom.dataelem import DataElement
    from pydicom.sequence import Sequence

    record.sop_class_uid = _pydicom_text(dataset, "SOPClassUID")
    record.modality = _pydicom_text(dataset, "Modality")
    record.patient_id = _pydicom_text(dataset, "PatientID")
    record.study_uid = _pydicom_text(dataset, "StudyInstanceUID")
    record.series_uid = _pydicom_text(dataset, "SeriesInstanceUID")
    record.body_part = _pydicom_text(dataset, "BodyPartExamined")
    record.manufacturer = _pydicom_text(dataset, "Manufacturer")
    record.model = _pydicom_text(dataset, "ManufacturerModelName")
    record.slice_thickness = _float(_pydicom_text(dataset, "SliceThickness"))
    record.kvp = _float(_pydicom_text(dataset, "KVP"))
    record.field_strength = _float(_pydicom_text(dataset, "MagneticFieldStrength"))
    record.pixel_spacing = _float(_pydicom_text(dataset, "PixelSpacing"))
    rows, columns = dataset.get("Rows"), dataset.get("Columns")
    record.rows = int(rows) if isinstance(rows, int) else None
    record.columns = int(columns) if isinstance(columns, int) else None
    record.sex = sex_clean(_pydicom_text(dataset, "PatientSex"))
    record.date = date_clean(_pydicom_text(dataset, "StudyDate"))
    age = age_from_text(_pydicom_text(dataset, "PatientAge"))
    record.age_years = (
        age if age is not None else age_from_dates(_pydicom_text(dataset, "PatientBirthDate"), record.date)
    )
    image_type = _pydicom_text(dataset, "ImageType")
    record.image_type = tuple(part.strip() for part in image_type.split("\\")) if image_type else ()
    record.burned_in_annotation = _pydicom_text(dataset, "BurnedInAnnotation").upper()
    record.identity_removed = _pydicom_text(dataset, "PatientIdentityRemoved").upper()
    identifying: list[str] = []
    private: list[str] = []
    text_parts: list[bytes] = []
    element: DataElement
    for element in dataset:
        tag = int(element.tag)
        if tag >= _PIXEL_GROUP:
            break
        keyword = IDENTIFYING_TAGS.get(tag)
        value = element.value
        if keyword is not None:
            present = len(value) > 0 if isinstance(value, Sequence) else bool(str(value).strip(" \x00"))
            if value is not None and present:
                identifying.append(keyword)
        elif element.tag.is_private and element.tag.element >= 0x1000:
            private.append(
                f"{element.tag.group:04X},xx{element.tag.element & 0xFF:02X}@{element.private_creator or '?'}"
            )
        if isinstance(value, str):
            text_parts.append(value.encode("utf-8", "replace"))
        elif isinstance(value, bytes) and element.VR in ("UN", "OB"):
            text_parts.append(value)
    record.private_tags = tuple(dict.fromkeys(private))
    identifying = list(dict.fromkeys(identifying))
    identifying.extend(text_findings(b"\x00".join(text_parts)))
    record.identifying = tuple(identifying)
    waveforms = dataset.get("WaveformSequence")
    if waveforms:
        first = waveforms[0]
        channels = first.get("NumberOfWaveformChannels")
        samples = first.get("NumberOfWaveformSamples")
        frequency = _float(str(first.get("SamplingFrequency", "") or ""))
        _waveform_set(record, channels, samples, frequency)
    else:
        record.format = "DICOM"
    record.reader = "pydicom"
    return record


def _record_pydicom(path: str, record: FileRecord, *, force: bool) -> FileRecord:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=force)
        if force and "SOPClassUID" not in dataset and "StudyInstanceUID" not in dataset:
            raise DicomReadError("DICOM 파일이 아닙니다: DICOM 머리말(DICM)도 DICOM 속성도 없습니다.")
        return record_from_pydicom(dataset, record)
    except DicomReadError:
        raise
    except InvalidDicomError as error:
        raise DicomReadError("DICOM 파일이 아닙니다: DICOM 머리말(DICM)이 없습니다.") from error
    except (OSError, MemoryError):
        raise
    except Exception as error:  # pydicom raises many kinds on corrupt input; each becomes one readable error
        raise DicomReadError(
            f"DICOM 헤더를 해석할 수 없습니다: {type(error).__name__}: {error}"[:300]
        ) from error


# ---------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------

_REASONS = {
    "truncated": "파일이 중간에 잘렸습니다: DICOM 요소의 길이가 파일 끝을 넘습니다.",
    "vr": "DICOM 헤더가 손상되었습니다: 값 표현(VR)을 읽을 수 없습니다(바이트 순서가 다를 수 있습니다).",
    "sequence": "DICOM 헤더가 손상되었습니다: 시퀀스 구조가 맞지 않습니다.",
    "depth": f"DICOM 헤더가 손상되었습니다: 시퀀스가 {MAX_SEQUENCE_DEPTH}단계보다 깊게 중첩되어 있습니다.",
}


def has_dicom_preamble(head: bytes) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


def dicom_record_read(
    path: str,
    record: FileRecord,
    *,
    head: bytes,
    read_more: Callable[[int], bytes],
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> FileRecord:
    """Read the header of an open DICOM file whose first bytes are ``head``; raise ``DicomReadError``.

    ``head`` holds up to ``FIRST_READ_BYTES``; when the header is longer, more is read with ``read_more(n)`` in
    growing steps, never past ``max_header_bytes``.
    """
    record.kind = FileKind.DICOM
    buf = head
    size = record.size
    while True:
        complete = len(buf) >= size
        try:
            return _record_fast(buf, complete, record)
        except _NeedMore:
            if complete:
                reason = _REASONS["truncated"]
                raise DicomReadError(reason) from None
            if len(buf) >= max_header_bytes:
                raise DicomReadError(
                    f"DICOM 헤더가 너무 큽니다: {max_header_bytes // (1024 * 1024)} MiB 안에 영상 데이터가 "
                    "시작되지 않습니다."
                ) from None
            more = read_more(min(max(len(buf) * 3, FIRST_READ_BYTES), max_header_bytes - len(buf)))
            if not more:
                raise DicomReadError(_REASONS["truncated"]) from None
            buf += more
        except _Fallback:
            return _record_pydicom(path, record, force=False)
        except DicomReadError as error:
            code = str(error)
            if code == "vr":
                # A file whose meta says little endian but whose data set is not: let pydicom judge it; it
                # may still read it, and if not, the fast path's reason is the clearer one.
                try:
                    fallback = _record_pydicom(path, record, force=False)
                except DicomReadError:
                    pass
                else:
                    if fallback.sop_class_uid or fallback.study_uid:
                        return fallback
            raise DicomReadError(_REASONS.get(code, code)) from None
        except (struct.error, UnicodeDecodeError, ValueError, LookupError) as error:
            raise DicomReadError(f"DICOM 헤더를 해석할 수 없습니다: {error}"[:300]) from None


def dicom_record_read_without_preamble(path: str, record: FileRecord) -> FileRecord:
    """A ``.dcm`` file without the 128-byte preamble: old equipment writes the bare data set; pydicom decides."""
    record.kind = FileKind.DICOM
    return _record_pydicom(path, record, force=True)
