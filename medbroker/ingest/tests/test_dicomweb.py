"""The DICOMweb import: a real Orthanc PACS for the headers, a small stand-in server for broken answers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydicom.uid import CTImageStorage

from medbroker.ingest import dicomweb, testdata
from medbroker.ingest.dicomweb import DicomwebError, DicomwebImport, dicomweb_records, record_from_dicom_json
from medbroker.ingest.scanner.engine import scan_tree
from medbroker.ingest.scanner.records import FileRecord, ScanError
from medbroker.ingest.scanner.summary import summary_build
from medbroker.ingest.tests.orthanc import OrthancServer

# --- the archive: 2 patients, 4 studies (CT with a segmentation, ECG; MR, CT), 9 instances -----------------

STUDY_A = "1.2.410.200001.77.1"
STUDY_B = "1.2.410.200001.77.2"
STUDY_C = "1.2.410.200001.77.3"
STUDY_D = "1.2.410.200001.77.4"
SERIES_A_CT = STUDY_A + ".1"
SERIES_A_SEG = STUDY_A + ".2"
SERIES_B_MR = STUDY_B + ".1"
SERIES_C_CT = STUDY_C + ".1"
SERIES_D_ECG = STUDY_D + ".1"
PATH_A_CT = [f"{STUDY_A}/{SERIES_A_CT}/{SERIES_A_CT}.{number}" for number in (1, 2, 3)]
PATH_A_SEG = f"{STUDY_A}/{SERIES_A_SEG}/{SERIES_A_SEG}.1"
PATH_B_MR = [f"{STUDY_B}/{SERIES_B_MR}/{SERIES_B_MR}.{number}" for number in (1, 2)]
PATH_C_CT = [f"{STUDY_C}/{SERIES_C_CT}/{SERIES_C_CT}.{number}" for number in (1, 2)]
PATH_D_ECG = f"{STUDY_D}/{SERIES_D_ECG}/{SERIES_D_ECG}.1"
PATHS = sorted([*PATH_A_CT, PATH_A_SEG, *PATH_B_MR, *PATH_C_CT, PATH_D_ECG])
# Patient 2 has no PatientAge: the age comes from the birth date (a finding of its own) and the study date.
PATIENT_2: dict[str, Any] = {"patient_id": "KTL-0002", "sex": "M", "age_years": None}
BIRTH_DATE = {"PatientBirthDate": "19700310"}


def archive_write(folder: Path) -> None:
    """The archive as files named by SOP Instance UID, from the shared generators of realistic headers."""
    small: dict[str, Any] = {"rows": 16, "columns": 16, "private": False}
    ct_a: dict[str, Any] = {
        **small,
        "modality": "CT",
        "patient_id": "KTL-0001",
        "sex": "F",
        "age_years": 63,
        "study_uid": STUDY_A,
        "series_uid": SERIES_A_CT,
        "study_date": "20230405",
        "body_part": "CHEST",
        "manufacturer": "GE MEDICAL SYSTEMS",
        "model": "Revolution CT",
        "slice_thickness": 1.25,
        "kvp": 120,
        "pixel_spacing": 0.7,
    }
    for number in (1, 2, 3):
        planted = {"PatientName": "Hong^Gildong"} if number == 1 else None
        testdata.dicom_image_write(
            folder / f"{SERIES_A_CT}.{number}.dcm", **ct_a, instance=number, identifying=planted
        )
    testdata.dicom_seg_write(
        folder / f"{SERIES_A_SEG}.1.dcm",
        patient_id="KTL-0001",
        sex="F",
        age_years=63,
        study_uid=STUDY_A,
        study_date="20230405",
        series_uid=SERIES_A_SEG,
        referenced_series_uid=SERIES_A_CT,
        referenced_instance_uids=[f"{SERIES_A_CT}.{number}" for number in (1, 2, 3)],
        rows=16,
        columns=16,
    )
    testdata.dicom_ecg_write(
        folder / f"{SERIES_D_ECG}.1.dcm",
        patient_id="KTL-0001",
        sex="F",
        age_years=63,
        study_uid=STUDY_D,
        series_uid=SERIES_D_ECG,
        study_date="20230410",
    )
    for number in (1, 2):
        testdata.dicom_image_write(
            folder / f"{SERIES_B_MR}.{number}.dcm",
            **{**small, **PATIENT_2, "private": number == 1},
            modality="MR",
            study_uid=STUDY_B,
            series_uid=SERIES_B_MR,
            instance=number,
            study_date="20240309",
            body_part="BRAIN",
            manufacturer="SIEMENS",
            model="MAGNETOM Skyra",
            field_strength=3.0,
            pixel_spacing=0.5,
            identifying={**BIRTH_DATE, "InstitutionName": "서울대학교병원"},
            private_creator="SIEMENS CSA HEADER",
        )
        testdata.dicom_image_write(
            folder / f"{SERIES_C_CT}.{number}.dcm",
            **{**small, **PATIENT_2},
            modality="CT",
            study_uid=STUDY_C,
            series_uid=SERIES_C_CT,
            instance=number,
            study_date="20240501",
            manufacturer="GE MEDICAL SYSTEMS",
            model="Revolution CT",
            slice_thickness=5,
            kvp=100,
            pixel_spacing=0.8,
            identifying=BIRTH_DATE,
            extra={"StudyDescription": "보호자 연락처 010-1234-5678"} if number == 2 else None,
        )


@pytest.fixture(scope="module")
def archive_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    archive_write(folder)
    return folder


@pytest.fixture
def pacs(orthanc: OrthancServer, archive_folder: Path) -> OrthancServer:
    orthanc.clear()
    orthanc.upload(sorted(archive_folder.glob("*.dcm")))
    assert orthanc.instances_count() == len(PATHS)
    return orthanc


def comparable(record: FileRecord) -> dict[str, Any]:
    data = record.as_json()
    for key in ("path", "size", "mtime_ns", "reader"):
        data.pop(key, None)
    return data


# --- against Orthanc -----------------------------------------------------------------------------------------


@pytest.mark.orthanc
def test_import_reads_every_instance_header(pacs: OrthancServer) -> None:
    calls: list[tuple[int, int]] = []

    result = dicomweb_records(pacs.dicomweb_url, progress=lambda done, total: calls.append((done, total)))

    assert result.studies == 4
    assert result.errors == []
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert [record.path for record in result.records] == PATHS
    assert result.records[0].as_json() == {
        "path": PATH_A_CT[0],
        "kind": "dicom",
        "format": "DICOM",
        "patient_id": "KTL-0001",
        "study_uid": STUDY_A,
        "series_uid": SERIES_A_CT,
        "sop_class_uid": CTImageStorage,
        "modality": "CT",
        "body_part": "CHEST",
        "manufacturer": "GE MEDICAL SYSTEMS",
        "model": "Revolution CT",
        "slice_thickness": 1.25,
        "kvp": 120.0,
        "pixel_spacing": 0.7,
        "rows": 16,
        "columns": 16,
        "sex": "F",
        "age_years": 63,
        "date": "20230405",
        "image_type": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "identity_removed": "YES",
        "identifying": ["PatientName"],
        "reader": "dicomweb",
    }
    facts = [
        (
            record.series_uid,
            record.modality,
            record.format,
            record.sex,
            record.age_years,
            record.identifying,
            record.private_tags,
        )
        for record in result.records
    ]
    assert facts == [
        (SERIES_A_CT, "CT", "DICOM", "F", 63, ("PatientName",), ()),
        (SERIES_A_CT, "CT", "DICOM", "F", 63, (), ()),
        (SERIES_A_CT, "CT", "DICOM", "F", 63, (), ()),
        (SERIES_A_SEG, "SEG", "DICOM", "F", 63, (), ()),
        (
            SERIES_B_MR,
            "MR",
            "DICOM",
            "M",
            53,
            ("InstitutionName", "PatientBirthDate"),
            ("0019,xx10@SIEMENS CSA HEADER",),
        ),
        (SERIES_B_MR, "MR", "DICOM", "M", 53, ("InstitutionName", "PatientBirthDate"), ()),
        (SERIES_C_CT, "CT", "DICOM", "M", 54, ("PatientBirthDate",), ()),
        (SERIES_C_CT, "CT", "DICOM", "M", 54, ("PatientBirthDate", "text.phone"), ()),
        (SERIES_D_ECG, "ECG", "DICOM-ECG", "F", 63, (), ()),
    ]
    ecg = result.records[-1]
    assert (ecg.sampling_hz, ecg.channels, ecg.duration_s) == (500.0, 12, 10.0)


@pytest.mark.orthanc
def test_import_reads_what_the_folder_scan_reads(pacs: OrthancServer, archive_folder: Path) -> None:
    scanned = scan_tree(archive_folder, workers=1)
    by_instance = {path.removesuffix(".dcm"): record for path, record in scanned.records.items()}

    result = dicomweb_records(pacs.dicomweb_url)

    assert len(result.records) == len(by_instance) == 9
    for record in result.records:
        assert comparable(record) == comparable(by_instance[record.path.rsplit("/", 1)[1]])


@pytest.mark.orthanc
def test_import_summary(pacs: OrthancServer) -> None:
    result = dicomweb_records(pacs.dicomweb_url)

    summary = summary_build(result.records, errors=result.errors)

    assert summary == {
        "files": 9,
        "instances": 9,
        "patients": 2,
        "studies": 4,
        "series": 5,
        "modalities": {"CT": 5, "MR": 2, "SEG": 1, "ECG": 1},
        "body_parts": {"CHEST": 3, "BRAIN": 2, "ABDOMEN": 2},
        "manufacturers": {"GE MEDICAL SYSTEMS": 5, "SIEMENS": 2, "MEDBROKER": 1},
        "models": {"Revolution CT": 5, "MAGNETOM Skyra": 2, "Annotation Tool": 1},
        "signals": {"records": 1, "formats": {"DICOM-ECG": 1}},
        "acquisition": {
            "ct_slice_thickness_mm": {"min": 1.25, "max": 5.0, "median": 1.25, "values": {"1.25": 3, "5": 2}},
            "ct_kvp": {"min": 100.0, "max": 120.0, "median": 120.0, "values": {"100": 2, "120": 3}},
            "mr_field_strength_t": {"min": 3.0, "max": 3.0, "median": 3.0, "values": {"3": 2}},
            "pixel_spacing_mm": {
                "min": 0.5,
                "max": 0.8,
                "median": 0.7,
                "values": {"0.5": 2, "0.7": 3, "0.8": 2},
            },
            "sampling_rate_hz": {"min": 500.0, "max": 500.0, "median": 500.0, "values": {"500": 1}},
            "channels": {"min": 12, "max": 12, "median": 12, "values": {"12": 1}},
            "duration_s": {"min": 10.0, "max": 10.0, "median": 10.0, "values": {"10": 1}},
        },
        "sex": {"M": 1, "F": 1, "O": 0, "unknown": 0},
        "age_bands": {
            "0-9": 0,
            "10-19": 0,
            "20-29": 0,
            "30-39": 0,
            "40-49": 0,
            "50-59": 1,
            "60-69": 1,
            "70-79": 0,
            "80-89": 0,
            "90+": 0,
            "unknown": 0,
        },
        "date_range": {"first": "2023-04-05", "last": "2024-05-01"},
        "cases": {"total": 4, "annotated": 1, "non_annotated": 3},
        "errors": [],
        "deid": {
            "files_with_findings": 5,
            "findings": {
                "PatientBirthDate": 4,
                "InstitutionName": 2,
                "PatientName": 1,
                "private": 1,
                "text.phone": 1,
            },
            "examples": {
                "InstitutionName": PATH_B_MR,
                "PatientBirthDate": [*PATH_B_MR, *PATH_C_CT],
                "PatientName": [PATH_A_CT[0]],
                "private": [PATH_B_MR[0]],
                "text.phone": [PATH_C_CT[1]],
            },
        },
    }


@pytest.mark.orthanc
def test_import_pages_through_studies_and_instances(
    pacs: OrthancServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 2: three study pages (2, 2, empty), and study A's four instances over three pages too.
    monkeypatch.setattr(dicomweb, "PAGE_SIZE", 2)

    result = dicomweb_records(pacs.dicomweb_url)

    assert result.studies == 4
    assert [record.path for record in result.records] == PATHS


@pytest.mark.orthanc
def test_import_of_an_empty_archive(orthanc: OrthancServer) -> None:
    orthanc.clear()
    calls: list[tuple[int, int]] = []

    result = dicomweb_records(orthanc.dicomweb_url, progress=lambda done, total: calls.append((done, total)))

    assert result == DicomwebImport(records=[], errors=[], studies=0)
    assert calls == [(0, 0)]


@pytest.mark.orthanc
def test_unknown_root_is_refused(pacs: OrthancServer) -> None:
    url = pacs.url + "/no-dicom-web"

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert (
        caught.value.message
        == f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: 서버가 HTTP 404 오류로 응답했습니다."
    )
    assert caught.value.status == 404
    assert caught.value.url == url
    assert pacs.instances_count() == 9


# --- without a server ----------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tried three times all the same, without the waits between.
    monkeypatch.setattr(dicomweb, "RETRY_WAIT_MS", 0)
    url = f"http://127.0.0.1:{_closed_port()}/dicom-web"
    calls: list[tuple[int, int]] = []

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url, progress=lambda done, total: calls.append((done, total)))

    assert (
        str(caught.value)
        == f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: 서버에 연결할 수 없습니다."
    )
    assert caught.value.status is None
    assert calls == []


@pytest.mark.parametrize("url", ["ftp://pacs.example.kr/dicom-web", "pacs.example.kr", ""])
def test_address_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert str(caught.value) == (
        f"DICOMweb 주소({url})가 올바르지 않습니다. http:// 또는 https://로 시작하는 주소여야 합니다."
    )


# --- a stand-in server for answers Orthanc does not give ------------------------------------------------------

Responder = Callable[[str, dict[str, list[str]]], tuple[Any, ...]]


@pytest.fixture
def stand_in() -> Iterator[Callable[[Responder], str]]:
    """Serve ``responder(path, query) -> (status, body[, headers])`` on loopback; body is JSON-encoded
    unless bytes."""
    servers: list[ThreadingHTTPServer] = []

    def serve(responder: Responder) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body, *more = responder(parts.path, parse_qs(parts.query))
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (more[0] if more else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/dicom-web"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def element(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


def study_json(uid: str) -> dict[str, Any]:
    return {"0020000D": element("UI", uid)}


def instance_json(study: str, series: str, sop: str, **extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "00080016": element("UI", CTImageStorage),
        "00080018": element("UI", sop),
        "00080060": element("CS", "CT"),
        "00100020": element("LO", "KTL-0009"),
        "0020000D": element("UI", study),
        "0020000E": element("UI", series),
        **extra,
    }


def page(items: list[Any], query: dict[str, list[str]], size: int | None = None) -> list[Any]:
    offset = int(query.get("offset", ["0"])[0])
    limit = size or int(query.get("limit", ["500"])[0])
    return items[offset : offset + limit]


def test_malformed_study_list_is_refused(stand_in: Callable[[Responder], str]) -> None:
    url = stand_in(lambda path, query: (200, b"<html>login</html>"))

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert (
        str(caught.value)
        == f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: 응답이 DICOM JSON 형식이 아닙니다."
    )


@pytest.mark.parametrize(
    "body", [{"0020000D": "1.2.3"}, ["1.2.3"], [{"00080020": element("DA", "20240101")}]]
)
def test_study_list_that_is_not_dicom_json_is_refused(
    stand_in: Callable[[Responder], str], body: Any
) -> None:
    url = stand_in(lambda path, query: (200, body if query.get("offset") == ["0"] else []))

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert caught.value.message == (
        f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: 응답이 DICOM JSON 형식이 아닙니다."
    )


def test_server_error_on_the_study_search_is_refused(stand_in: Callable[[Responder], str]) -> None:
    url = stand_in(lambda path, query: (500, {"error": "database locked"}))

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert caught.value.status == 500
    assert (
        str(caught.value)
        == f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: 서버가 HTTP 500 오류로 응답했습니다."
    )


def test_busy_server_is_tried_three_times(
    stand_in: Callable[[Responder], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dicomweb, "RETRY_WAIT_MS", 0)
    requests_seen: list[str] = []

    def responder(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        requests_seen.append(path)
        return 503, {"error": "busy"}

    url = stand_in(responder)

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert caught.value.status == 503
    assert (
        str(caught.value)
        == f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: 서버가 HTTP 503 오류로 응답했습니다."
    )
    assert requests_seen == ["/dicom-web/studies"] * 3


def test_failed_study_or_series_is_an_error_and_the_import_goes_on(
    stand_in: Callable[[Responder], str],
) -> None:
    good, broken = "1.2.410.9.1", "1.2.410.9.2"
    series_ok, series_gone = f"{good}.1", f"{good}.2"
    kept, missing, elsewhere = f"{series_ok}.1", f"{series_ok}.2", f"{series_gone}.1"
    instances = [
        instance_json(good, series_ok, kept),
        instance_json(good, series_ok, missing),
        instance_json(good, series_gone, elsewhere),
    ]
    header = instance_json(
        good,
        series_ok,
        kept,
        **{
            "00100010": element("PN", {"Ideographic": "洪^吉洞"}),
            "00101002": {"vr": "SQ", "Value": [{}]},
            "00180050": element("DS", "2.5"),
            "00091010": element("LO", "x"),
        },
    )

    def responder(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        routes: dict[str, tuple[int, Any]] = {
            "/dicom-web/studies": (200, page([study_json(good), study_json(broken)], query, size=1)),
            f"/dicom-web/studies/{good}/instances": (200, page(instances, query)),
            f"/dicom-web/studies/{broken}/instances": (500, {"error": "timeout"}),
            f"/dicom-web/studies/{good}/series/{series_ok}/metadata": (200, [header]),
            f"/dicom-web/studies/{good}/series/{series_gone}/metadata": (404, {"error": "gone"}),
        }
        return routes.get(path, (404, {}))

    url = stand_in(responder)
    calls: list[tuple[int, int]] = []

    result = dicomweb_records(url, progress=lambda done, total: calls.append((done, total)))

    assert result.studies == 2
    assert calls == [(0, 2), (1, 2), (2, 2)]
    assert [record.as_json() for record in result.records] == [
        {
            "path": f"{good}/{series_ok}/{kept}",
            "kind": "dicom",
            "format": "DICOM",
            "patient_id": "KTL-0009",
            "study_uid": good,
            "series_uid": series_ok,
            "sop_class_uid": CTImageStorage,
            "modality": "CT",
            "slice_thickness": 2.5,
            "identifying": ["PatientName", "OtherPatientIDsSequence"],
            "private_tags": ["0009,xx10@?"],
            "reader": "dicomweb",
        }
    ]
    assert result.errors == [
        ScanError(
            path=f"{good}/{series_ok}/{missing}", reason="시리즈의 헤더 메타데이터에 이 인스턴스가 없습니다."
        ),
        ScanError(
            path=f"{good}/{series_gone}",
            reason="시리즈의 헤더 메타데이터(WADO-RS)를 읽지 못했습니다: 서버가 HTTP 404 오류로 응답했습니다.",
        ),
        ScanError(
            path=broken,
            reason="스터디의 인스턴스를 검색하지 못했습니다: 서버가 HTTP 500 오류로 응답했습니다.",
        ),
    ]


def test_server_that_ignores_the_offset_is_read_once(stand_in: Callable[[Responder], str]) -> None:
    # Every page is the whole list: paging stops at the first page that brings nothing new.
    study, series = "1.2.410.9.3", "1.2.410.9.3.1"
    instances = [instance_json(study, series, f"{series}.{number}") for number in (1, 2)]
    routes: dict[str, tuple[int, Any]] = {
        "/dicom-web/studies": (200, [study_json(study)]),
        f"/dicom-web/studies/{study}/instances": (200, instances),
        f"/dicom-web/studies/{study}/series/{series}/metadata": (200, instances),
    }
    requests_seen: list[str] = []

    def responder(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        requests_seen.append(f"{path}?offset={query.get('offset', [''])[0]}")
        return routes.get(path, (404, {}))

    result = dicomweb_records(stand_in(responder))

    assert [record.path for record in result.records] == [
        f"{study}/{series}/{series}.1",
        f"{study}/{series}/{series}.2",
    ]
    assert result.errors == []
    assert requests_seen == [
        "/dicom-web/studies?offset=0",
        "/dicom-web/studies?offset=1",
        f"/dicom-web/studies/{study}/instances?offset=0",
        f"/dicom-web/studies/{study}/instances?offset=2",
        f"/dicom-web/studies/{study}/series/{series}/metadata?offset=",
    ]


# --- the DICOM JSON of one instance --------------------------------------------------------------------------


def test_record_from_dicom_json_reads_values_as_the_header_reader() -> None:
    dataset = {
        "00080016": element("UI", "1.2.840.10008.5.1.4.1.1.9.1.1"),
        "00080060": element("CS", "ECG"),
        "00080080": {"vr": "LO"},
        "00081070": element("PN", {}),
        "00100040": element("CS", "f"),
        "00101010": element("AS", "018M"),
        "00100030": element("DA", "19990101"),
        "00080020": element("DA", "20240230"),
        "00180050": element("DS", "not a number"),
        "00280030": element("DS", "0.25", "0.3"),
        "00090010": element("LO", "ACME 1.1"),
        "00091001": element("LO", "800101-1234567"),
        "54000100": {
            "vr": "SQ",
            "Value": [
                {
                    "003A0005": element("US", 12),
                    "003A0010": element("UL", 5000),
                    "003A001A": element("DS", "500"),
                }
            ],
        },
    }

    record = record_from_dicom_json(dataset, path="s/e/i")

    assert record.as_json() == {
        "path": "s/e/i",
        "kind": "dicom",
        "format": "DICOM-ECG",
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.9.1.1",
        "modality": "ECG",
        "pixel_spacing": 0.25,
        "sampling_hz": 500.0,
        "channels": 12,
        "duration_s": 10.0,
        "sex": "F",
        "age_years": 1,
        "identifying": ["PatientBirthDate", "text.resident_number"],
        "private_tags": ["0009,xx01@ACME 1.1"],
        "reader": "dicomweb",
    }


# --- redirects ---------------------------------------------------------------------------------------------


def test_a_redirect_to_another_server_is_not_followed(stand_in: Callable[[Responder], str]) -> None:
    # The listed PACS answers with a redirect into another service; that service must see no request.
    reached: list[str] = []

    def elsewhere(path: str, query: dict[str, list[str]]) -> tuple[Any, ...]:
        reached.append(path)
        return (200, [])

    internal = stand_in(elsewhere)
    url = stand_in(lambda path, query: (302, b"", {"Location": f"{internal}/studies"}))

    with pytest.raises(DicomwebError) as caught:
        dicomweb_records(url)

    assert str(caught.value) == (
        f"DICOMweb 서버({url})에서 스터디를 검색하지 못했습니다: "
        "서버가 요청을 다른 서버로 넘기려 해서 따르지 않았습니다."
    )
    assert reached == []


def test_a_redirect_within_the_server_is_followed(stand_in: Callable[[Responder], str]) -> None:
    study = "1.2.410.9.4"

    def responder(path: str, query: dict[str, list[str]]) -> tuple[Any, ...]:
        offset = query.get("offset", ["0"])[0]
        if path == "/dicom-web/studies":
            return (301, b"", {"Location": f"/archive/dicom-web/studies?offset={offset}"})
        if path == "/archive/dicom-web/studies":
            return (200, [study_json(study)] if offset == "0" else [])
        return (200, [])

    result = dicomweb_records(stand_in(responder))

    assert (result.studies, result.records, result.errors) == (1, [], [])
