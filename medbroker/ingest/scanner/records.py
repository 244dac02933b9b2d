"""What the scanner keeps of one file: the facts its header states, independent of any dataset's policy.

A record is computed once per file (size and modification time unchanged means the record is reused), so
it holds raw facts only. Whether a fact is a de-identification finding depends on the dataset's policy
(retain options, private safe list, pseudonym pattern) and is decided at summary time by ``deid``: a
change of policy re-judges every file without reading any of them again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


class FileKind:
    DICOM = "dicom"
    EDF = "edf"
    WFDB = "wfdb"
    LABEL = "label"
    # Seen and counted but holding nothing the scan uses (a document, a WFDB signal file).
    OTHER = "other"


@dataclass(slots=True)
class FileRecord:
    # Where and what: ``path`` is relative to the scanned root, with "/" separators.
    path: str
    kind: str
    size: int = 0
    mtime_ns: int = 0
    # The signal format ("EDF", "EDF+", "BDF", "BDF+", "WFDB", "DICOM-ECG") or "DICOM" for images.
    format: str = ""
    # Who and which case. ``patient_id`` is the value as stored (a pseudonym when de-identified): it is
    # counted, never shown. The case of a signal record is its record; of an image, its study.
    patient_id: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_class_uid: str = ""
    modality: str = ""
    body_part: str = ""
    manufacturer: str = ""
    model: str = ""
    # Acquisition parameters (None when the header does not state them).
    slice_thickness: float | None = None
    kvp: float | None = None
    field_strength: float | None = None
    pixel_spacing: float | None = None
    rows: int | None = None
    columns: int | None = None
    sampling_hz: float | None = None
    channels: int | None = None
    duration_s: float | None = None
    # Demographics: sex "M" / "F" / "O" or ""; age in whole years at the study or recording.
    sex: str = ""
    age_years: int | None = None
    # Study or recording date as YYYYMMDD ("" when unknown).
    date: str = ""
    # De-identification facts, judged later against the dataset's policy.
    image_type: tuple[str, ...] = ()
    burned_in_annotation: str = ""
    identity_removed: str = ""
    # Keywords (DICOM keyword, or "edf.*" / "wfdb.*" / "text.*") of identifying attributes carrying a value.
    identifying: tuple[str, ...] = ()
    # Private elements present, as "gggg,xxee@PRIVATE CREATOR" (the creator's block byte replaced by xx).
    private_tags: tuple[str, ...] = ()
    # Which reader produced the record: "fast" (the header reader) or "pydicom" / "pyedflib" / "wfdb".
    reader: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Records cross from the reading processes to the scan's own in bulk: a plain tuple of values
        # pickles in about half the time of the dataclass's default state.
        return (FileRecord, tuple(getattr(self, name) for name in _FIELD_ORDER))

    def as_json(self) -> dict[str, Any]:
        """The record as JSON-able values (tuples become lists); defaults are left out to keep rows small."""
        data = asdict(self)
        defaults = _DEFAULTS
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in data.items()
            if key in ("path", "kind") or value != defaults.get(key)
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileRecord:
        values = {key: value for key, value in data.items() if key in _FIELD_NAMES}
        for key in _TUPLE_FIELDS:
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


_FIELD_ORDER = tuple(f.name for f in fields(FileRecord))
_FIELD_NAMES = frozenset(_FIELD_ORDER)
_TUPLE_FIELDS = ("image_type", "identifying", "private_tags")
_DEFAULTS: dict[str, Any] = {
    f.name: (f.default_factory() if callable(f.default_factory) else f.default)  # type: ignore[misc]
    for f in fields(FileRecord)
}


@dataclass(slots=True)
class ScanError:
    path: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}
