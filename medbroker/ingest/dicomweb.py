"""Read a PACS's DICOM headers through DICOMweb into file records, as the folder scanner reads files.

QIDO-RS lists the studies (paged), then each study's instances with the attributes a record needs. QIDO
cannot name private elements (their tags depend on each file's private creators) and servers return only
the attributes they index, so each series' WADO-RS metadata completes the picture: the full header of every
instance, without pixel data. An instance is recorded only when both answered, so that the
de-identification audit never judges a header it saw only in part.

A record's ``path`` is "<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>". A study whose instance
search fails, or a series whose metadata cannot be read, becomes one error (its path the study, or
"<study>/<series>") and the import goes on; only a failed study search stops it (:class:`DicomwebError`).
A redirect is followed only within the server named (:class:`SameServerSession`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from dicomweb_client.api import DICOMwebClient
from django.utils.translation import gettext as _
from pydicom.datadict import tag_for_keyword
from retrying import RetryError

from medbroker.ingest.scanner.deid import text_findings
from medbroker.ingest.scanner.headers import (
    IDENTIFYING_TAGS,
    age_from_dates,
    age_from_text,
    date_clean,
    sex_clean,
)
from medbroker.ingest.scanner.records import FileKind, FileRecord, ScanError

# Results asked for per QIDO-RS request. A server may cap a page below this (and only say so in a Warning
# header), so paging goes on until a page comes back empty rather than until one comes back short.
PAGE_SIZE = 500
READER = "dicomweb"
# Connect within 10 s; assembling a large series' metadata can take the archive minutes.
TIMEOUT_S = (10.0, 300.0)
# A refused or dropped connection, a timeout, or 408/429/503/504 is tried again twice, after 1 s and 2 s:
# enough for a busy archive, short enough that a server gone for good costs seconds per study, not minutes.
RETRY_ATTEMPTS = 3
RETRY_WAIT_MS = 500

RECORD_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientSex",
    "PatientAge",
    "PatientBirthDate",
    "StudyDate",
    "Modality",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "SliceThickness",
    "KVP",
    "MagneticFieldStrength",
    "PixelSpacing",
    "Rows",
    "Columns",
    "ImageType",
    "BurnedInAnnotation",
    "PatientIdentityRemoved",
)


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise LookupError(f"unknown DICOM keyword {keyword}")
    return f"{tag:08X}"


_TAGS = {keyword: _tag(keyword) for keyword in RECORD_KEYWORDS}
_IDENTIFYING_BY_TAG = {f"{tag:08X}": keyword for tag, keyword in sorted(IDENTIFYING_TAGS.items())}
# Attributes are asked for by tag: servers resolve keywords with their own dictionaries, and some drop
# retired ones such as OtherPatientIDs without a word.
QIDO_FIELDS = tuple(dict.fromkeys((*_TAGS.values(), *_IDENTIFYING_BY_TAG)))
_QIDO_FIELD_SET = frozenset(QIDO_FIELDS)
_WAVEFORM_SEQUENCE = _tag("WaveformSequence")
_SAMPLING_FREQUENCY = _tag("SamplingFrequency")
_WAVEFORM_CHANNELS = _tag("NumberOfWaveformChannels")
_WAVEFORM_SAMPLES = _tag("NumberOfWaveformSamples")

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class DicomwebImport:
    records: list[FileRecord] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    # Studies the server listed (those that failed included: each has an entry in ``errors``).
    studies: int = 0


class _RedirectRefused(requests.RequestException):
    pass


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


class SameServerSession(requests.Session):
    """A session that follows a redirect only to the server it was sent to (same scheme, host and port).

    Who may name which server is checked on the address saved in the scan settings; a redirect to another
    host would let that server send our requests anywhere, such as services inside the lab's network.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None and _origin(urljoin(resp.url, target)) != _origin(resp.url):
            raise _RedirectRefused(f"redirect from {resp.url} to another server refused", response=resp)
        return target


class DicomwebError(Exception):
    """The server's study list could not be read: nothing was imported."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status

    def __str__(self) -> str:
        return self.message


def dicomweb_records(
    url: str, *, progress: Progress | None = None, session: requests.Session | None = None
) -> DicomwebImport:
    """Every instance header of the DICOMweb server at ``url`` (its QIDO-RS / WADO-RS root) as records.

    ``progress(done, total)`` is called with ``(0, studies)`` once the studies are listed, then after each
    study. Records come sorted by path. Raises :class:`DicomwebError` when the study search fails.
    """
    try:
        # UIDs are taken as the archive states them: old equipment writes some that break the UID syntax
        # (leading zeros), and such a study is still worth reading.
        client = DICOMwebClient(
            url=url, session=session or SameServerSession(), permissive_uid=True, timeout=TIMEOUT_S
        )
    except ValueError as error:
        raise DicomwebError(
            _("DICOMweb 주소(%(url)s)가 올바르지 않습니다. http:// 또는 https://로 시작하는 주소여야 합니다.")
            % {"url": url},
            url=url,
        ) from error
    client.set_http_retry_params(
        retry=True, max_attempts=RETRY_ATTEMPTS, wait_exponential_multiplier=RETRY_WAIT_MS
    )
    try:
        study_uids = _study_uids(client)
    except _RequestFailed as failure:
        raise DicomwebError(
            _("DICOMweb 서버(%(url)s)에서 스터디를 검색하지 못했습니다: %(cause)s")
            % {"url": url, "cause": failure.cause()},
            url=url,
            status=failure.status,
        ) from failure

    result = DicomwebImport(studies=len(study_uids))
    if progress is not None:
        progress(0, len(study_uids))
    for done, study_uid in enumerate(study_uids, start=1):
        _study_import(client, study_uid, result)
        if progress is not None:
            progress(done, len(study_uids))
    result.records.sort(key=lambda record: record.path)
    return result


class _RequestFailed(Exception):
    def __init__(self, kind: str, status: int | None = None) -> None:
        super().__init__(kind, status)
        self.kind = kind
        self.status = status

    def cause(self) -> str:
        if self.kind == "http" and self.status is not None:
            return _("서버가 HTTP %(status)s 오류로 응답했습니다.") % {"status": self.status}
        if self.kind == "http":
            return _("서버가 HTTP 오류로 응답했습니다.")
        if self.kind == "timeout":
            return _("서버가 제한 시간 안에 응답하지 않았습니다.")
        if self.kind == "redirect":
            return _("서버가 요청을 다른 서버로 넘기려 해서 따르지 않았습니다.")
        if self.kind == "malformed":
            return _("응답이 DICOM JSON 형식이 아닙니다.")
        return _("서버에 연결할 수 없습니다.")


def _datasets(call: Callable[[], Any]) -> list[dict[str, Any]]:
    """One DICOMweb request's answer as DICOM JSON datasets, every failure as :class:`_RequestFailed`."""
    try:
        answer = call()
    except RetryError as error:
        # The client retries 408/429/503/504 a few times, then gives up with the last response.
        response = getattr(error.last_attempt, "value", None)
        status = getattr(response, "status_code", None)
        raise _RequestFailed("http", status) from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        raise _RequestFailed("http", status) from error
    except requests.Timeout as error:
        raise _RequestFailed("timeout") from error
    except _RedirectRefused as error:
        raise _RequestFailed("redirect") from error
    except (requests.JSONDecodeError, ValueError) as error:
        raise _RequestFailed("malformed") from error
    except requests.RequestException as error:
        raise _RequestFailed("connection") from error
    if not isinstance(answer, list) or not all(_is_dataset(item) for item in answer):
        raise _RequestFailed("malformed")
    return answer


def _is_dataset(item: Any) -> bool:
    return isinstance(item, dict) and all(isinstance(value, dict) for value in item.values())


def _paged(search: Callable[[int], Any], *, key: str) -> list[dict[str, Any]]:
    """Every result of a paged QIDO-RS search, each once (by the UID under ``key``).

    Paging stops at an empty page, or at a page that brings no new UID: a server that ignores ``offset``
    answers every page with the same results.
    """
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    offset = 0
    while True:
        page = _datasets(functools.partial(search, offset))
        fresh = False
        for dataset in page:
            uid = _text(dataset, key)
            if uid in seen:
                continue
            if uid:
                seen.add(uid)
                fresh = True
            results.append(dataset)
        if not fresh:
            return results
        offset += len(page)


def _study_uids(client: DICOMwebClient) -> list[str]:
    study_tag = _TAGS["StudyInstanceUID"]
    found = _paged(lambda offset: client.search_for_studies(offset=offset, limit=PAGE_SIZE), key=study_tag)
    uids = [_text(dataset, study_tag) for dataset in found]
    if not all(uids):
        raise _RequestFailed("malformed")
    return uids


def _study_import(client: DICOMwebClient, study_uid: str, result: DicomwebImport) -> None:
    try:
        found = _paged(
            lambda offset: client.search_for_instances(
                study_instance_uid=study_uid, fields=QIDO_FIELDS, offset=offset, limit=PAGE_SIZE
            ),
            key=_TAGS["SOPInstanceUID"],
        )
    except _RequestFailed as failure:
        result.errors.append(
            ScanError(
                path=study_uid,
                reason=_("스터디의 인스턴스를 검색하지 못했습니다: %(cause)s") % {"cause": failure.cause()},
            )
        )
        return

    series: dict[str, dict[str, dict[str, Any]]] = {}
    for dataset in found:
        series_uid = _text(dataset, _TAGS["SeriesInstanceUID"])
        instance_uid = _text(dataset, _TAGS["SOPInstanceUID"])
        if not series_uid or not instance_uid:
            result.errors.append(
                ScanError(
                    path=f"{study_uid}/{series_uid}".rstrip("/"),
                    reason=_("검색 결과의 인스턴스에 시리즈 UID 또는 SOP 인스턴스 UID가 없습니다."),
                )
            )
            continue
        series.setdefault(series_uid, {})[instance_uid] = dataset

    for series_uid, instances in series.items():
        try:
            headers = _datasets(
                functools.partial(
                    client.retrieve_series_metadata,
                    study_instance_uid=study_uid,
                    series_instance_uid=series_uid,
                )
            )
        except _RequestFailed as failure:
            result.errors.append(
                ScanError(
                    path=f"{study_uid}/{series_uid}",
                    reason=_("시리즈의 헤더 메타데이터(WADO-RS)를 읽지 못했습니다: %(cause)s")
                    % {"cause": failure.cause()},
                )
            )
            continue
        by_instance = {_text(header, _TAGS["SOPInstanceUID"]): header for header in headers}
        for instance_uid, searched in instances.items():
            path = f"{study_uid}/{series_uid}/{instance_uid}"
            header = by_instance.get(instance_uid)
            if header is None:
                result.errors.append(
                    ScanError(path=path, reason=_("시리즈의 헤더 메타데이터에 이 인스턴스가 없습니다."))
                )
                continue
            # The full header wins; what the server left out of it (some return only indexed attributes
            # as metadata) comes from the search result.
            asked = {key: value for key, value in searched.items() if key in _QIDO_FIELD_SET}
            result.records.append(record_from_dicom_json({**asked, **header}, path=path))


def record_from_dicom_json(dataset: Mapping[str, Any], *, path: str) -> FileRecord:
    """A record from one instance's DICOM JSON (PS3.18 Annex F), by the header reader's value rules."""
    dataset = {str(key).upper(): value for key, value in dataset.items()}
    tags = _TAGS
    record = FileRecord(
        path=path,
        kind=FileKind.DICOM,
        format="DICOM",
        patient_id=_text(dataset, tags["PatientID"]),
        study_uid=_text(dataset, tags["StudyInstanceUID"]),
        series_uid=_text(dataset, tags["SeriesInstanceUID"]),
        sop_class_uid=_text(dataset, tags["SOPClassUID"]),
        modality=_text(dataset, tags["Modality"]),
        body_part=_text(dataset, tags["BodyPartExamined"]),
        manufacturer=_text(dataset, tags["Manufacturer"]),
        model=_text(dataset, tags["ManufacturerModelName"]),
        slice_thickness=_number(dataset, tags["SliceThickness"]),
        kvp=_number(dataset, tags["KVP"]),
        field_strength=_number(dataset, tags["MagneticFieldStrength"]),
        pixel_spacing=_number(dataset, tags["PixelSpacing"]),
        rows=_integer(dataset, tags["Rows"]),
        columns=_integer(dataset, tags["Columns"]),
        sex=sex_clean(_text(dataset, tags["PatientSex"])),
        date=date_clean(_text(dataset, tags["StudyDate"])),
        image_type=tuple(_texts(dataset, tags["ImageType"])),
        burned_in_annotation=_text(dataset, tags["BurnedInAnnotation"]).upper(),
        identity_removed=_text(dataset, tags["PatientIdentityRemoved"]).upper(),
        reader=READER,
    )
    age = age_from_text(_text(dataset, tags["PatientAge"]))
    record.age_years = (
        age if age is not None else age_from_dates(_text(dataset, tags["PatientBirthDate"]), record.date)
    )
    identifying: list[str] = []
    private: list[str] = []
    # Attributes in tag order, as a file holds them, so that a record reads the same from either source.
    for key in sorted(dataset):
        keyword = _IDENTIFYING_BY_TAG.get(key)
        if keyword is not None:
            if _has_value(dataset, key):
                identifying.append(keyword)
            continue
        private_key = _private_key(dataset, key)
        if private_key is not None:
            private.append(private_key)
    identifying.extend(text_findings(b"\x00".join(_strings(dataset))))
    record.identifying = tuple(dict.fromkeys(identifying))
    record.private_tags = tuple(dict.fromkeys(private))
    waveforms = _values(dataset, _WAVEFORM_SEQUENCE)
    if waveforms and isinstance(waveforms[0], dict):
        first = waveforms[0]
        _waveform_facts(
            record,
            channels=_integer(first, _WAVEFORM_CHANNELS),
            samples=_integer(first, _WAVEFORM_SAMPLES),
            frequency=_number(first, _SAMPLING_FREQUENCY),
        )
    return record


def _waveform_facts(
    record: FileRecord, *, channels: int | None, samples: int | None, frequency: float | None
) -> None:
    # The first multiplex group stands for the recording, as in the header reader.
    record.format = "DICOM-ECG" if record.modality == "ECG" else "DICOM-WAVEFORM"
    record.channels = channels
    record.sampling_hz = frequency
    record.duration_s = round(samples / frequency, 3) if samples is not None and frequency else None


# --- DICOM JSON values -----------------------------------------------------------------------------------


def _values(dataset: Mapping[str, Any], tag: str) -> list[Any]:
    element = dataset.get(tag)
    if not isinstance(element, dict):
        return []
    values = element.get("Value")
    return values if isinstance(values, list) else []


def _value_text(value: Any) -> str:
    if isinstance(value, dict):
        # A person name: its alphabetic, ideographic (한자) or phonetic (한글) group, the first present.
        for group in ("Alphabetic", "Ideographic", "Phonetic"):
            if isinstance(value.get(group), str) and value[group].strip():
                return str(value[group]).strip()
        return ""
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


def _texts(dataset: Mapping[str, Any], tag: str) -> list[str]:
    return [text for text in (_value_text(value) for value in _values(dataset, tag)) if text]


def _text(dataset: Mapping[str, Any], tag: str) -> str:
    texts = _texts(dataset, tag)
    return texts[0] if texts else ""


def _number(dataset: Mapping[str, Any], tag: str) -> float | None:
    # DS and IS values come as JSON numbers from most servers and as strings from some.
    for value in _values(dataset, tag):
        if isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None
    return None


def _integer(dataset: Mapping[str, Any], tag: str) -> int | None:
    number = _number(dataset, tag)
    return int(number) if number is not None and number == int(number) else None


def _has_value(dataset: Mapping[str, Any], tag: str) -> bool:
    element = dataset.get(tag)
    if not isinstance(element, dict):
        return False
    if element.get("InlineBinary") or element.get("BulkDataURI"):
        return True
    for value in _values(dataset, tag):
        if element.get("vr") == "SQ":
            # A sequence with an item, even an empty one, is present (as the header reader judges it).
            if isinstance(value, dict):
                return True
        elif _value_text(value):
            return True
    return False


def _private_key(dataset: Mapping[str, Any], key: str) -> str | None:
    """A private element's key as "GGGG,xxEE@CREATOR" (PS3.5 §7.8.1), None for any other element."""
    try:
        group, element = int(key[:4], 16), int(key[4:8], 16)
    except ValueError:
        return None
    # Odd groups above 0008 are private; elements 0010–00FF there name the creators of the blocks.
    if len(key) != 8 or group % 2 == 0 or group <= 0x0008 or element < 0x1000:
        return None
    creator = _text(dataset, f"{group:04X}{element >> 8:04X}") or "?"
    return f"{group:04X},xx{element & 0xFF:02X}@{creator}"


def _strings(value: Any) -> Iterator[bytes]:
    """Every text of a dataset, nested items and person-name groups included, for the pattern search."""
    if isinstance(value, str):
        yield value.encode("utf-8", "replace")
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        if isinstance(value.get("vr"), str):
            yield from _strings(value.get("Value"))
        else:
            # A sequence item (tag → element) or a person name (group → text).
            for item in value.values():
                yield from _strings(item)
