"""The ingest page: settings, starting a scan, its progress, the de-identification report and its export."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset, Institution
from medbroker.ingest.models import ScanJob, ScanProfile
from medbroker.ingest.testdata import LABEL_PATTERN, archive_write
from medbroker.ingest.tests.factories import ScanJobFactory, ScannedFileFactory, ScanProfileFactory

pytestmark = pytest.mark.django_db


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _page(client: Client, dataset: Dataset) -> str:
    response = client.get(f"/ingest/datasets/{dataset.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _count(html: str, label: str) -> str:
    match = re.search(rf"<dt>{re.escape(label)}</dt><dd[^>]*>([^<]*)</dd>", html)
    assert match is not None, label
    return match.group(1)


def _findings(dataset: Dataset) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(
        deidentification=Dataset.Deidentification.FINDINGS, deidentification_findings=2
    )
    ScannedFileFactory(
        dataset=dataset,
        path="P0001/CT_20240105/SE001/0001.dcm",
        record={
            "path": "P0001/CT_20240105/SE001/0001.dcm",
            "kind": "dicom",
            "identity_removed": "YES",
            "identifying": ["PatientName"],
        },
    )
    ScannedFileFactory(
        dataset=dataset,
        path="P0001/CT_20240105/SE001/0002.dcm",
        record={
            "path": "P0001/CT_20240105/SE001/0002.dcm",
            "kind": "dicom",
            "identity_removed": "YES",
            "identifying": ["PatientName", "PatientBirthDate"],
        },
    )
    ScannedFileFactory(
        dataset=dataset,
        path="P0002/CT_20240106/SE001/0001.dcm",
        record={"path": "P0002/CT_20240106/SE001/0001.dcm", "kind": "dicom", "identity_removed": "YES"},
    )


# ---------------------------------------------------------------------------------------------------------
# The page before and after a scan
# ---------------------------------------------------------------------------------------------------------


def test_before_the_first_scan_the_steward_sees_the_settings_and_no_results(
    client: Client, login: Any, steward: User, dataset: Dataset, tmp_path: Path
) -> None:
    html = _page(login(client, steward), dataset)

    assert '<h1 class="mb-title">스캔·점검: 흉부 CT 영상</h1>' in html
    assert f'action="/ingest/datasets/{dataset.pk}/settings/"' in html
    assert 'name="source_path"' in html and 'name="pseudonym_pattern"' in html
    assert "기관의 데이터 관리자는 운영자가 기관에 지정한 데이터 보관 폴더 안" in html
    assert re.search(
        rf'<p class="mb-muted" id="institution-scan-folder">기관의 데이터 보관 폴더:\s*'
        rf'<code class="ingest-path">{re.escape(str(tmp_path.resolve()))}</code></p>',
        html,
    )
    # Without a folder neither start button can be pressed.
    assert '<button type="submit" class="krds-btn primary" disabled>폴더 스캔 시작</button>' in html
    assert '<button type="submit" class="krds-btn secondary" disabled>PACS에서 가져오기</button>' in html
    assert "아직 스캔하지 않았습니다." in html
    assert "스캔 기록이 없습니다." in html
    assert '<span class="krds-badge bg-light-gray">점검 전</span>' in html
    assert "deidentification.xlsx" not in html
    assert "운영자 공개 허용" not in html
    assert ScanProfile.objects.count() == 0  # reading the page writes nothing


def test_the_steward_saves_the_settings_scans_the_folder_and_sees_the_result(
    client: Client,
    login: Any,
    steward: User,
    dataset: Dataset,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    manifest = archive_write(tmp_path / "colon-ct", seed=3)
    login(client, steward)

    saved = client.post(
        f"/ingest/datasets/{dataset.pk}/settings/",
        {
            "source_path": str(tmp_path / "colon-ct"),
            "dicomweb_url": "",
            "label_patterns": f"{LABEL_PATTERN}\n",
            "private_safe_list": "",
            "pseudonym_pattern": "",
        },
        follow=True,
    )
    assert messages_of(saved) == ["스캔 설정을 저장했습니다."]
    profile = ScanProfile.objects.get(dataset=dataset)
    assert (profile.source_path, profile.label_patterns) == (
        str((tmp_path / "colon-ct").resolve()),
        [LABEL_PATTERN],
    )

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/ingest/datasets/{dataset.pk}/scans/", {"source": "folder"})
    assert (started.status_code, started["Location"]) == (302, f"/ingest/datasets/{dataset.pk}/")

    page = client.get(started["Location"])
    html = page.content.decode()
    assert messages_of(page) == ["폴더 스캔을 시작했습니다. 진행 상황은 아래 '최근 스캔'에 표시됩니다."]
    job = ScanJob.objects.get(dataset=dataset)
    assert job.status == ScanJob.Status.SUCCEEDED
    assert '<span class="krds-badge bg-light-success">완료</span>' in html
    assert "<strong>100%</strong>" in html
    assert f"파일 {manifest.files} / {manifest.files}개" in html
    assert _count(html, "새 파일") == str(manifest.files)
    assert _count(html, "바뀐 파일") == "0"
    assert _count(html, "읽지 못한 파일") == "0"
    assert 'hx-trigger="every 1s"' not in html
    dataset.refresh_from_db()
    assert dataset.deidentification == Dataset.Deidentification.FINDINGS
    assert '<span class="krds-badge bg-light-danger">발견 사항 있음</span>' in html
    for code, files in manifest.findings().items():
        assert re.search(
            rf'<td><code>{re.escape(code)}</code></td>\s*<td class="mb-num">{files}</td>', html
        ), code
    assert f'href="/ingest/datasets/{dataset.pk}/deidentification.xlsx"' in html
    # The new scan is the first row of the history.
    assert re.search(rf'<tr>\s*<td class="mb-num">{job.pk}</td>\s*<td>폴더</td>', html)


def test_a_steward_without_a_folder_is_told_who_assigns_one(
    client: Client, login: Any, steward: User, dataset: Dataset, tmp_path: Path
) -> None:
    Institution.objects.filter(pk=dataset.institution_id).update(scan_folder="")
    (tmp_path / "ct").mkdir()
    login(client, steward)

    page = _page(client, dataset)
    response = client.post(
        f"/ingest/datasets/{dataset.pk}/settings/",
        {"source_path": str(tmp_path / "ct"), "pseudonym_pattern": ""},
    )

    assert (
        "아직 지정되지 않았습니다. 데이터 관리자가 폴더를 스캔하려면 시험원 운영자가 관리자 화면에서 먼저 지정해야 합니다."
        in page
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "이 기관의 데이터 보관 폴더가 아직 지정되지 않았습니다. "
        "시험원 운영자에게 데이터 보관 폴더를 지정해 달라고 요청해 주세요."
    ) in html
    assert ScanProfile.objects.count() == 0


def test_settings_with_a_folder_outside_the_roots_are_refused_inline(
    client: Client, login: Any, steward: User, dataset: Dataset, settings: Any
) -> None:
    response = login(client, steward).post(
        f"/ingest/datasets/{dataset.pk}/settings/",
        {"source_path": "/etc", "pseudonym_pattern": "KTL-[0-9]{6}"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert f"허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: {settings.MEDBROKER_SCAN_ROOTS[0]}" in html
    assert '<div class="form-group is-error">' in html
    assert 'value="KTL-[0-9]{6}"' in html  # what was typed comes back
    assert ScanProfile.objects.count() == 0
    assert AuditEvent.objects.filter(action="ingest.scan_profile_saved").count() == 0


def test_a_bad_pseudonym_pattern_is_shown_beside_its_field(
    client: Client, login: Any, steward: User, dataset: Dataset
) -> None:
    ScanProfileFactory(dataset=dataset, pseudonym_pattern="KTL-[0-9]{6}")

    response = login(client, steward).post(
        f"/ingest/datasets/{dataset.pk}/settings/", {"pseudonym_pattern": "KTL-("}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(
        r'id="id_pseudonym_pattern_error"><p class="form-hint-invalid" role="alert">가명 ID 형식이', html
    )
    assert ScanProfile.objects.get(dataset=dataset).pseudonym_pattern == "KTL-[0-9]{6}"


def test_a_second_scan_while_one_runs_is_refused_with_a_message(
    client: Client, login: Any, operator: User, dataset: Dataset, tmp_path: Path
) -> None:
    ScanProfileFactory(dataset=dataset, source_path=str(tmp_path))
    running = ScanJobFactory(dataset=dataset, status=ScanJob.Status.RUNNING, location=str(tmp_path))

    response = login(client, operator).post(
        f"/ingest/datasets/{dataset.pk}/scans/", {"source": "folder"}, follow=True
    )

    assert messages_of(response) == ["이미 진행 중인 스캔이 있습니다."]
    assert list(ScanJob.objects.values_list("pk", flat=True)) == [running.pk]
    html = response.content.decode()
    # The page polls the running job, and its start buttons wait.
    assert f'hx-get="/ingest/scans/{running.pk}/progress/" hx-trigger="every 1s"' in html
    assert '<button type="submit" class="krds-btn primary" disabled>폴더 스캔 시작</button>' in html


def test_a_pacs_import_without_an_address_is_refused_with_a_message(
    client: Client, login: Any, steward: User, dataset: Dataset
) -> None:
    response = login(client, steward).post(
        f"/ingest/datasets/{dataset.pk}/scans/", {"source": "dicomweb"}, follow=True
    )

    assert messages_of(response) == ["스캔 설정에 DICOMweb 주소를 먼저 입력해 주세요."]
    assert ScanJob.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# The progress fragment
# ---------------------------------------------------------------------------------------------------------


def test_the_progress_of_a_running_job_keeps_polling(
    client: Client, login: Any, steward: User, dataset: Dataset
) -> None:
    job = ScanJobFactory(dataset=dataset, status=ScanJob.Status.RUNNING, files_done=2, files_total=5)

    response = login(client, steward).get(f"/ingest/scans/{job.pk}/progress/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.startswith(
        f'<div id="scan-job-progress" class="ingest-progress" hx-get="/ingest/scans/{job.pk}/progress/" '
        'hx-trigger="every 1s" hx-swap="outerHTML"'
    )
    assert "<strong>40%</strong>" in html
    assert 'aria-valuenow="40"' in html and 'style="width: 40%"' in html
    assert "파일 2 / 5개" in html
    assert '<span class="krds-badge bg-light-primary">진행 중</span>' in html
    assert "HX-Refresh" not in response
    assert response["Cache-Control"] == "no-store"


def test_a_finished_job_stops_the_polling_and_refreshes_the_page_once(
    client: Client, login: Any, steward: User, dataset: Dataset
) -> None:
    job = ScanJobFactory(
        dataset=dataset,
        status=ScanJob.Status.SUCCEEDED,
        files_done=5,
        files_total=5,
        files_new=3,
        files_changed=1,
        files_removed=2,
        files_unchanged=1,
        errors_count=1,
        summary={
            "errors": [{"path": "P0003/broken.dcm", "reason": "DICOM 헤더가 중간에 끊겼습니다."}],
            "errors_total": 1,
        },
    )
    login(client, steward)

    polled = client.get(f"/ingest/scans/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    plain = client.get(f"/ingest/scans/{job.pk}/progress/")

    html = polled.content.decode()
    assert html.startswith('<div id="scan-job-progress" class="ingest-progress" aria-live="polite">')
    assert "hx-trigger" not in html and "hx-get" not in html
    assert "<strong>100%</strong>" in html
    assert [_count(html, label) for label in ("새 파일", "바뀐 파일", "없어진 파일", "바뀌지 않은 파일")] == [
        "3",
        "1",
        "2",
        "1",
    ]
    assert _count(html, "읽지 못한 파일") == "1"
    assert "읽지 못한 파일 (전체 1개 중 1개)" in html
    assert (
        '<tr><td><code class="ingest-path">P0003/broken.dcm</code></td><td>DICOM 헤더가 중간에 끊겼습니다.</td></tr>'
        in html
    )
    assert polled["HX-Refresh"] == "true"
    assert "HX-Refresh" not in plain


def test_a_failed_job_says_why(client: Client, login: Any, steward: User, dataset: Dataset) -> None:
    job = ScanJobFactory(
        dataset=dataset, status=ScanJob.Status.FAILED, error_message="데이터 폴더를 찾을 수 없습니다: /x"
    )

    html = login(client, steward).get(f"/ingest/scans/{job.pk}/progress/").content.decode()

    assert '<span class="krds-badge bg-light-danger">실패</span>' in html
    assert (
        "스캔이 실패했습니다. 데이터셋의 정보는 바뀌지 않았습니다. 데이터 폴더를 찾을 수 없습니다: /x" in html
    )
    assert "hx-trigger" not in html


# ---------------------------------------------------------------------------------------------------------
# The de-identification report, the override and the export
# ---------------------------------------------------------------------------------------------------------


def test_the_report_lists_findings_with_examples(
    client: Client, login: Any, steward: User, dataset: Dataset
) -> None:
    _findings(dataset)

    html = _page(login(client, steward), dataset)

    assert re.search(r'<div class="mb-stat-label">점검한 파일</div><div class="mb-stat">3</div>', html)
    assert re.search(
        r'<div class="mb-stat-label">발견 사항이 있는 파일</div><div class="mb-stat">2</div>', html
    )
    rows = re.findall(r'<td><code>([^<]+)</code></td>\s*<td class="mb-num">(\d+)</td>', html)
    assert rows == [("PatientName", "2"), ("PatientBirthDate", "1")]
    assert (
        '<li><code class="ingest-path">P0001/CT_20240105/SE001/0001.dcm</code></li>'
        '<li><code class="ingest-path">P0001/CT_20240105/SE001/0002.dcm</code></li>'
    ) in html
    assert "발견 사항이 있어 이 데이터셋은 공개할 수 없습니다." in html
    # Stewards fix the data; only an operator may allow publication as it is.
    assert "운영자 공개 허용" not in html


def test_only_operators_get_the_override_form(
    client: Client, login: Any, users_by_role: dict[str, Any], dataset: Dataset
) -> None:
    _findings(dataset)

    shown = {
        role: "운영자 공개 허용" in _page(login(Client(), users_by_role[role]), dataset)
        for role in ("steward", "operator", "auditor")
    }

    assert shown == {"steward": False, "operator": True, "auditor": False}


def test_no_override_form_without_findings(
    client: Client, login: Any, operator: User, dataset: Dataset
) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(deidentification=Dataset.Deidentification.CLEAN)

    html = _page(login(client, operator), dataset)

    assert "운영자 공개 허용" not in html
    assert '<span class="krds-badge bg-light-success">발견 사항 없음</span>' in html


def test_the_operator_overrides_the_findings_with_a_reason(
    client: Client, login: Any, operator: User, dataset: Dataset
) -> None:
    _findings(dataset)

    response = login(client, operator).post(
        f"/ingest/datasets/{dataset.pk}/deidentification/override/",
        {"reason": "PatientName은 가명 코드로 확인했습니다."},
        follow=True,
    )

    assert messages_of(response) == [
        "'흉부 CT 영상' 데이터셋의 비식별 점검 발견 사항에도 공개를 허용했습니다."
    ]
    dataset.refresh_from_db()
    assert (
        dataset.deidentification,
        dataset.deidentification_override_reason,
        dataset.deidentification_override_by,
    ) == (
        Dataset.Deidentification.OVERRIDDEN,
        "PatientName은 가명 코드로 확인했습니다.",
        operator,
    )
    html = response.content.decode()
    assert '<span class="krds-badge bg-light-warning">운영자 승인으로 공개 허용</span>' in html
    assert "운영자가" in html and "사유: PatientName은 가명 코드로 확인했습니다." in html
    assert "운영자 공개 허용" not in html


def test_an_override_without_a_reason_is_refused_inline(
    client: Client, login: Any, operator: User, dataset: Dataset
) -> None:
    _findings(dataset)

    response = login(client, operator).post(
        f"/ingest/datasets/{dataset.pk}/deidentification/override/", {"reason": "  "}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert '<p class="form-hint-invalid" role="alert">공개 허용 사유를 입력해 주세요.</p>' in html
    dataset.refresh_from_db()
    assert (dataset.deidentification, dataset.deidentification_override_reason) == (
        Dataset.Deidentification.FINDINGS,
        "",
    )
    assert AuditEvent.objects.filter(action="catalog.dataset_deidentification_overridden").count() == 0


def test_an_override_of_a_clean_dataset_is_refused_with_a_message(
    client: Client, login: Any, operator: User, dataset: Dataset
) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(deidentification=Dataset.Deidentification.CLEAN)

    response = login(client, operator).post(
        f"/ingest/datasets/{dataset.pk}/deidentification/override/", {"reason": "확인함"}, follow=True
    )

    assert messages_of(response) == ["비식별 점검에서 발견 사항이 있는 데이터셋만 공개를 허용할 수 있습니다."]
    dataset.refresh_from_db()
    assert dataset.deidentification == Dataset.Deidentification.CLEAN


def test_the_report_downloads_as_excel(client: Client, login: Any, auditor: User, dataset: Dataset) -> None:
    _findings(dataset)
    ScanProfileFactory(
        dataset=dataset, retain_device_identity=True, private_safe_list=["0019,xx10@GEMS_ACQU_01"]
    )

    response = login(client, auditor).get(f"/ingest/datasets/{dataset.pk}/deidentification.xlsx")

    assert response.status_code == 200
    assert re.fullmatch(
        rf'attachment; filename="deidentification-{dataset.pk}-\d{{8}}-\d{{4}}\.xlsx"',
        response["Content-Disposition"],
    )
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["요약", "발견 사항"]
    summary = {row[0]: row[1] for row in workbook["요약"].iter_rows(min_row=2, values_only=True)}
    assert summary["데이터셋"] == "흉부 CT 영상"
    assert summary["비식별 점검 상태"] == "발견 사항 있음"
    assert (summary["점검한 파일 수"], summary["발견 사항이 있는 파일 수"]) == (3, 2)
    assert (summary["기관 정보 유지 옵션"], summary["장비 정보 유지 옵션"]) == ("아니요", "예")
    assert summary["허용 비공개 태그"] == "0019,xx10@GEMS_ACQU_01"
    assert list(workbook["발견 사항"].iter_rows(values_only=True)) == [
        ("항목", "코드", "파일 수", "예시 파일"),
        (
            "식별 정보가 담긴 속성: PatientName",
            "PatientName",
            2,
            "P0001/CT_20240105/SE001/0001.dcm\nP0001/CT_20240105/SE001/0002.dcm",
        ),
        (
            "식별 정보가 담긴 속성: PatientBirthDate",
            "PatientBirthDate",
            1,
            "P0001/CT_20240105/SE001/0002.dcm",
        ),
    ]
    event = AuditEvent.objects.get(action="ingest.deidentification_exported")
    assert (event.actor, event.data["files_with_findings"], event.data["files_scanned"]) == (auditor, 2, 3)


def test_the_auditor_reads_the_page_without_forms(
    client: Client, login: Any, auditor: User, dataset: Dataset, tmp_path: Path
) -> None:
    ScanProfileFactory(dataset=dataset, source_path=str(tmp_path), pseudonym_pattern="KTL-[0-9]{6}")

    html = _page(login(client, auditor), dataset)

    assert "감사자는 이 화면을 읽기만 할 수 있습니다." in html
    assert '<form method="post" action="/ingest/' not in html
    assert "폴더 스캔 시작" not in html
    assert f'<dt>데이터 폴더</dt><dd><code class="ingest-path">{tmp_path}</code></dd>' in html
    assert "<dt>가명 ID 형식</dt><dd><code>KTL-[0-9]{6}</code></dd>" in html
    assert "기관 데이터셋" not in html  # the steward's list is not theirs
