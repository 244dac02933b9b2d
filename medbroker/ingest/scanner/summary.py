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

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from medbroker.ingest.scanner.deid import DeidPolicy, record_findings
from medbroker.ingest.scanner.headers import is_annotation
from medbroker.ingest.scanner.records import FileKind, FileRecord, ScanError

AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
EXAMPLES_PER_FINDING = 5
SIGNAL_FORMATS_DICOM = ("DICOM-ECG", "DICOM-WAVEFORM")
UNREADABLE = "unreadable"


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return "unknown"
    return AGE_BANDS[min(age // 10, 9)]


def _stats(counts: Counter[float]) -> dict[str, Any] | None:
    """Minimum, maximum, median and the count of each value, from a count per value."""
    if not counts:
        return None
    ordered = sorted(counts.items())
    total = sum(counts.values())
    return {
        "min": ordered[0][0],
        "max": ordered[-1][0],
        "median": _median(ordered, total),
        "values": {_number_text(value): count for value, count in ordered},
    }


def _median(ordered: list[tuple[float, int]], total: int) -> float:
    """The median of ``total`` values given as sorted (value, count) pairs (the mean of the middle two)."""
    middle = [(total - 1) // 2, total // 2]
    found: list[float] = []
    seen = 0
    for value, count in ordered:
        while middle and middle[0] < seen + count:
            found.append(value)
            middle.pop(0)
        seen += count
    return (found[0] + found[1]) / 2 if found[0] != found[1] else found[0]


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
    """The summary object of a scan (what ``medbroker scan --json`` prints).

    The loop runs once per file of archives with millions of them, so the facts that files of one series
    share (modality, body part, device, parameters) are counted as one tuple and spread into their
    distributions at the end, and a patient or folder equal to the previous file's is not looked up again.
    """
    policy = policy or DeidPolicy()
    ordered = sorted(records, key=lambda record: record.path)
    instances = 0
    formats: Counter[str] = Counter()
    studies: set[str] = set()
    series: set[str] = set()
    # (modality, body part, manufacturer, model, slice thickness, kVp, field strength, pixel spacing) → files
    images: Counter[tuple[Any, ...]] = Counter()
    # (sampling rate, channels, duration) → signal records
    signal_parameters: Counter[tuple[Any, ...]] = Counter()
    # patient key → (sex, age) of its first file in path order.
    patients: dict[str, tuple[str, int | None]] = {}
    first_date = last_date = ""
    case_folders: dict[str, set[str]] = defaultdict(set)
    annotated: set[str] = set()
    signal_cases: dict[str, str] = {}  # case key → record name (file name without suffix)
    label_folders: dict[str, list[str]] = defaultdict(list)
    findings: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    files_with_findings = 0
    # Files of one series share their de-identification facts: judge each distinct set once.
    judged: dict[tuple[Any, ...], list[str]] = {}
    check_pseudonym = bool(policy.pseudonym_pattern)
    last_case = last_folder = last_patient = None

    for record in ordered:
        kind = record.kind
        path = record.path
        if kind == FileKind.LABEL:
            label_folders[_folder(path)].append(path.rsplit("/", 1)[-1])
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
            record.patient_id if check_pseudonym else "",
        )
        codes = judged.get(key)
        if codes is None:
            codes = judged[key] = record_findings(record, policy)
        if codes:
            files_with_findings += 1
            for code in codes:
                findings[code] += 1
                if len(examples[code]) < EXAMPLES_PER_FINDING:
                    examples[code].append(path)
        date = record.date
        if date:
            if not first_date or date < first_date:
                first_date = date
            if date > last_date:
                last_date = date
        if kind == FileKind.DICOM:
            instances += 1
            study = record.study_uid
            case = "study:" + (study or path)
            if study:
                studies.add(study)
            if record.series_uid:
                series.add(record.series_uid)
            record_format = record.format
            if record_format in SIGNAL_FORMATS_DICOM:
                formats[record_format] += 1
                signal_parameters[(record.sampling_hz, record.channels, record.duration_s)] += 1
                images[(record.modality, "", "", "", None, None, None, None)] += 1
            else:
                images[
                    (
                        record.modality,
                        record.body_part,
                        record.manufacturer,
                        record.model,
                        record.slice_thickness,
                        record.kvp,
                        record.field_strength,
                        record.pixel_spacing,
                    )
                ] += 1
            if is_annotation(record.sop_class_uid, record.modality):
                annotated.add(case)
        else:
            case = "record:" + path
            formats[record.format or kind.upper()] += 1
            signal_cases[case] = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            signal_parameters[(record.sampling_hz, record.channels, record.duration_s)] += 1
        folder = _folder(path)
        if case != last_case or folder != last_folder:
            case_folders[case].add(folder)
            last_case, last_folder = case, folder
        patient_id = record.patient_id
        patient = "id:" + patient_id if patient_id else case
        if patient != last_patient:
            last_patient = patient
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

    modalities: Counter[str] = Counter()
    body_parts: Counter[str] = Counter()
    manufacturers: Counter[str] = Counter()
    models: Counter[str] = Counter()
    slice_thickness: Counter[float] = Counter()
    kvp: Counter[float] = Counter()
    field_strength: Counter[float] = Counter()
    pixel_spacing: Counter[float] = Counter()
    for (modality, body_part, manufacturer, model, thickness, tube, field, spacing), count in images.items():
        if modality:
            modalities[modality] += count
        if body_part:
            body_parts[body_part] += count
        if manufacturer:
            manufacturers[manufacturer] += count
        if model:
            models[model] += count
        if modality == "CT":
            if thickness is not None:
                slice_thickness[thickness] += count
            if tube is not None:
                kvp[tube] += count
        if modality == "MR" and field is not None:
            field_strength[field] += count
        if spacing is not None:
            pixel_spacing[spacing] += count
    sampling: Counter[float] = Counter()
    channels: Counter[float] = Counter()
    durations: Counter[float] = Counter()
    for (rate, channel_count, duration), count in signal_parameters.items():
        if rate:
            sampling[rate] += count
        if channel_count is not None:
            channels[channel_count] += count
        if duration is not None:
            durations[duration] += count

    # A file that could not be read could not be checked either: it counts as a finding until it reads
    # (or an operator accepts it), so a scan with errors never clears a dataset for publication.
    for error in sorted(errors, key=lambda error: error.path):
        files_with_findings += 1
        findings[UNREADABLE] += 1
        if len(examples[UNREADABLE]) < EXAMPLES_PER_FINDING:
            examples[UNREADABLE].append(error.path)

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
        "date_range": {"first": _date_text(first_date), "last": _date_text(last_date)}
        if first_date
        else None,
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


# Bumped when summary_build's output changes shape, so a stored summary is not reused across versions.
SUMMARY_VERSION = 1


def summary_fingerprint(policy: DeidPolicy | None, label_patterns: Sequence[str] = ()) -> str:
    """What besides the records decides a summary: equal fingerprints and equal records, equal summaries."""
    policy = policy or DeidPolicy()
    return repr(
        (
            SUMMARY_VERSION,
            policy.retain_institution_identity,
            policy.retain_device_identity,
            sorted(policy.private_safe_list),
            policy.pseudonym_pattern,
            sorted(label_patterns),
        )
    )
