"""From the records of a scan to the summary object: counts, distributions, parameters, cases, findings.

Counting units, stated once: ``instances`` are DICOM files; ``modalities``, ``body_parts``,
``manufacturers`` and ``models`` count instances; ``sex`` and ``age_bands`` count patients; acquisition
parameters count instances (imaging) or records (signals). A *case* is a study for DICOM and a record for
EDF and WFDB. A patient is a distinct patient ID; a file without one counts as a patient of its own case.
A case is annotated when its study holds a segmentation, RT structure set or structured report, or when a
sidecar label file (matched by the dataset's label patterns) lies in one of its folders; a signal record
is annotated by a label file in its folder whose name starts with the record's name.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from medbroker.ingest.scanner.deid import DeidPolicy, record_findings
from medbroker.ingest.scanner.headers import is_annotation
from medbroker.ingest.scanner.records import FileKind, FileRecord, ScanError

AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
EXAMPLES_PER_FINDING = 5
SIGNAL_FORMATS_DICOM = ("DICOM-ECG", "DICOM-WAVEFORM")


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return "unknown"
    return AGE_BANDS[min(age // 10, 9)]


def _stats(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    counts = Counter(values)
    return {
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
        "values": {_number_text(value): count for value, count in sorted(counts.items())},
    }


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _date_text(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}"


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _ancestors(folder: str) -> Iterable[str]:
    while folder:
        yield folder
        folder = _folder(folder)


def summary_build(
    records: Iterable[FileRecord],
    *,
    errors: Sequence[ScanError] = (),
    files: int | None = None,
    policy: DeidPolicy | None = None,
    label_patterns: Sequence[str] = (),
) -> dict[str, Any]:
    """The summary object of a scan (what ``medbroker scan --json`` prints)."""
    policy = policy or DeidPolicy()
    ordered = sorted(records, key=lambda record: record.path)
    instances = 0
    modalities: Counter[str] = Counter()
    body_parts: Counter[str] = Counter()
    manufacturers: Counter[str] = Counter()
    models: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    studies: set[str] = set()
    series: set[str] = set()
    slice_thickness: list[float] = []
    kvp: list[float] = []
    field_strength: list[float] = []
    pixel_spacing: list[float] = []
    sampling: list[float] = []
    channels: list[float] = []
    durations: list[float] = []
    # patient key → (sex, age) of its first file in path order.
    patients: dict[str, tuple[str, int | None]] = {}
    dates: list[str] = []
    case_folders: dict[str, set[str]] = defaultdict(set)
    annotated: set[str] = set()
    signal_cases: dict[str, str] = {}  # case key → record name (file name without suffix)
    label_folders: dict[str, list[str]] = defaultdict(list)
    findings: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    files_with_findings = 0
    # Files of one series share their de-identification facts: judge each distinct set once.
    judged: dict[tuple[Any, ...], list[str]] = {}

    for record in ordered:
        kind = record.kind
        if kind == FileKind.LABEL:
            label_folders[_folder(record.path)].append(record.path.rsplit("/", 1)[-1])
            continue
        if kind == FileKind.OTHER:
            continue
        key = (
            kind,
            record.identifying,
            record.private_tags,
            record.identity_removed,
            record.burned_in_annotation,
            record.sop_class_uid,
            record.image_type,
            record.modality,
            record.patient_id if policy.pseudonym_pattern else "",
        )
        codes = judged.get(key)
        if codes is None:
            codes = judged[key] = record_findings(record, policy)
        if codes:
            files_with_findings += 1
            for code in codes:
                findings[code] += 1
                if len(examples[code]) < EXAMPLES_PER_FINDING:
                    examples[code].append(record.path)
        if record.date:
            dates.append(record.date)
        if kind == FileKind.DICOM:
            instances += 1
            case = "study:" + (record.study_uid or record.path)
            if record.modality:
                modalities[record.modality] += 1
            if record.study_uid:
                studies.add(record.study_uid)
            if record.series_uid:
                series.add(record.series_uid)
            if record.format in SIGNAL_FORMATS_DICOM:
                formats[record.format] += 1
                if record.sampling_hz:
                    sampling.append(record.sampling_hz)
                if record.channels is not None:
                    channels.append(record.channels)
                if record.duration_s is not None:
                    durations.append(record.duration_s)
            else:
                if record.body_part:
                    body_parts[record.body_part] += 1
                if record.manufacturer:
                    manufacturers[record.manufacturer] += 1
                if record.model:
                    models[record.model] += 1
                if record.modality == "CT":
                    if record.slice_thickness is not None:
                        slice_thickness.append(record.slice_thickness)
                    if record.kvp is not None:
                        kvp.append(record.kvp)
                if record.modality == "MR" and record.field_strength is not None:
                    field_strength.append(record.field_strength)
                if record.pixel_spacing is not None:
                    pixel_spacing.append(record.pixel_spacing)
            if is_annotation(record.sop_class_uid, record.modality):
                annotated.add(case)
        else:
            case = "record:" + record.path
            formats[record.format or kind.upper()] += 1
            signal_cases[case] = record.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if record.sampling_hz:
                sampling.append(record.sampling_hz)
            if record.channels is not None:
                channels.append(record.channels)
            if record.duration_s is not None:
                durations.append(record.duration_s)
        case_folders[case].add(_folder(record.path))
        patient = "id:" + record.patient_id if record.patient_id else case
        if patient not in patients:
            patients[patient] = (record.sex, record.age_years)

    if label_folders:
        for case, folders in case_folders.items():
            if case in annotated:
                continue
            if case.startswith("record:"):
                stem = signal_cases[case]
                folder = next(iter(folders))
                if any(name.startswith(stem) for name in label_folders.get(folder, ())):
                    annotated.add(case)
                continue
            if any(ancestor in label_folders for folder in folders for ancestor in _ancestors(folder)):
                annotated.add(case)

    sex: Counter[str] = Counter({"M": 0, "F": 0, "O": 0, "unknown": 0})
    ages: Counter[str] = Counter(dict.fromkeys((*AGE_BANDS, "unknown"), 0))
    for patient_sex, age in patients.values():
        sex[patient_sex or "unknown"] += 1
        ages[age_band(age)] += 1
    acquisition = {
        name: stats
        for name, stats in (
            ("ct_slice_thickness_mm", _stats(slice_thickness)),
            ("ct_kvp", _stats(kvp)),
            ("mr_field_strength_t", _stats(field_strength)),
            ("pixel_spacing_mm", _stats(pixel_spacing)),
            ("sampling_rate_hz", _stats(sampling)),
            ("channels", _stats(channels)),
            ("duration_s", _stats(durations)),
        )
        if stats is not None
    }
    total_cases = len(case_folders)
    return {
        "files": len(ordered) if files is None else files,
        "instances": instances,
        "patients": len(patients),
        "studies": len(studies),
        "series": len(series),
        "modalities": dict(modalities.most_common()),
        "body_parts": dict(body_parts.most_common()),
        "manufacturers": dict(manufacturers.most_common()),
        "models": dict(models.most_common()),
        "signals": {"records": sum(formats.values()), "formats": dict(formats.most_common())},
        "acquisition": acquisition,
        "sex": dict(sex),
        "age_bands": dict(ages),
        "date_range": {"first": _date_text(min(dates)), "last": _date_text(max(dates))} if dates else None,
        "cases": {
            "total": total_cases,
            "annotated": len(annotated),
            "non_annotated": total_cases - len(annotated),
        },
        "errors": [error.as_json() for error in errors],
        "deid": {
            "files_with_findings": files_with_findings,
            "findings": dict(sorted(findings.items(), key=lambda item: (-item[1], item[0]))),
            "examples": {code: examples[code] for code in sorted(examples)},
        },
    }


def key_information_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """What the catalogue keeps of a summary: no file paths, no error list, finding counts only."""
    kept = {key: value for key, value in summary.items() if key not in ("errors", "deid")}
    deid = summary.get("deid") or {}
    kept["deid"] = {
        "files_with_findings": deid.get("files_with_findings", 0),
        "findings": dict(deid.get("findings") or {}),
    }
    kept["errors"] = len(summary.get("errors") or [])
    return kept
