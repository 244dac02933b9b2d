"""``medbroker bonus --call SLUG --evidence FILE.json``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from medbroker.calls.definitions import CALL_2025_SLUG
from medbroker.calls.tests.factories import call_2025

pytestmark = pytest.mark.django_db

SAMPLE: dict[str, Any] = {
    "revenue": {
        "2021": 820000000,
        "2022": None,
        "2023": 1000000000,
        "2024": 950000000,
        "provisional_2024": True,
    },
    "government_projects": [
        {"id": "RS-2023-00012345", "title": "내시경 AI 고도화", "start": "2023-04-01", "end": "2024-12-31"},
        {"id": "rs-2023-00012345", "title": "2차년도", "start": "2024-01-01", "end": "2024-12-31"},
        {"id": "S3301234", "title": "병변 분할", "start": "2021-05-01", "end": "2022-07-08"},
        {"id": "OWN-2024-01", "title": "판독 보조", "start": "2024-03-01", "end": "2025-02-28"},
        {"id": "20018765", "title": "표준화", "start": "2020-01-01", "end": "2022-07-07"},
    ],
    "certifications": [
        {"name": "GS", "valid_from": "2023-01-10", "valid_until": "2026-01-09"},
        {"name": "IOS9001", "valid_from": "2022-09-01", "valid_until": "2025-08-31"},
        {"name": "ISMS-P", "valid_from": "2021-06-01", "valid_until": "2024-05-31"},
        {"name": "ISO 13485", "valid_from": "2023-01-01", "valid_until": "2026-01-01"},
        {"name": "InnoBiz", "valid_from": "2024-02-01", "valid_until": "2027-01-31"},
    ],
    "intellectual_property": [
        {"number": "10-2456789", "kind": "patent", "registered_on": "2022-07-08"},
        {"number": "10-2567890", "kind": "patent", "registered_on": "2024-11-20"},
        {"number": "C-2023-012345", "kind": "software", "registered_on": "2023-03-02"},
        {"number": "10-1987654", "kind": "patent", "registered_on": "2022-07-07"},
    ],
}

WINDOW = "2022-07-08~2025-07-07"

EXPECTED: dict[str, Any] = {
    "reference_date": "2025-07-07",
    "window": {"start": "2022-07-08", "end": "2025-07-07"},
    "revenue": {
        "points": 3,
        "reason": (
            "2024년 매출액 950,000,000원(가결산)이 2021~2023년 평균 910,000,000원(2개 연도, 2022년 자료 없어 제외)"
            "보다 많음 → 증가: 3점 ※ 2024년은 가결산 재무제표 기준"
        ),
        "count": 3,
        "counted": ["2021년 820,000,000원", "2023년 1,000,000,000원", "2024년 950,000,000원"],
        "not_counted": [],
        "details": {
            "outcome": "increase",
            "current": 950000000,
            "baseline_average": 910000000,
            "baseline_years": [2021, 2023],
            "provisional": True,
        },
    },
    "government_projects": {
        "points": 1,
        "reason": (
            f"기준일(2025-07-07) 이전 3년({WINDOW}) 내 수행한 서로 다른 과제 3건 → 3건 이상 5건 미만: 1점"
            " (제외 2건 — rs-2023-00012345(2차년도): 중복(과제 번호 RS-2023-00012345);"
            f" 20018765(표준화): 수행기간(2020-01-01~2022-07-07)이 평가기간({WINDOW})과 겹치지 않음)"
        ),
        "count": 3,
        "counted": ["RS-2023-00012345(내시경 AI 고도화)", "S3301234(병변 분할)", "OWN-2024-01(판독 보조)"],
        "not_counted": [
            {"evidence": "rs-2023-00012345(2차년도)", "reason": "중복(과제 번호 RS-2023-00012345)"},
            {
                "evidence": "20018765(표준화)",
                "reason": f"수행기간(2020-01-01~2022-07-07)이 평가기간({WINDOW})과 겹치지 않음",
            },
        ],
    },
    "certifications": {
        "points": 2,
        "reason": (
            "기준일(2025-07-07)에 유효한 인정 목록의 서로 다른 인증 3건 → 3건 이상 5건 미만: 2점"
            " (제외 2건 — ISMS-P: 기준일(2025-07-07) 이전 만료(유효 종료일 2024-05-31);"
            " ISO 13485: 공고의 인정 인증 목록에 없음)"
        ),
        "count": 3,
        "counted": ["GS", "IOS9001(=ISO 9001)", "InnoBiz"],
        "not_counted": [
            {"evidence": "ISMS-P", "reason": "기준일(2025-07-07) 이전 만료(유효 종료일 2024-05-31)"},
            {"evidence": "ISO 13485", "reason": "공고의 인정 인증 목록에 없음"},
        ],
    },
    "intellectual_property": {
        "points": 1,
        "reason": (
            f"기준일(2025-07-07) 이전 3년({WINDOW}) 내 서로 다른 등록 지식재산권 3건 → 3건 이상 5건 미만: 1점"
            f" (제외 1건 — 10-1987654: 등록일(2022-07-07)이 평가기간({WINDOW}) 밖)"
        ),
        "count": 3,
        "counted": ["10-2456789", "10-2567890", "C-2023-012345"],
        "not_counted": [
            {"evidence": "10-1987654", "reason": f"등록일(2022-07-07)이 평가기간({WINDOW}) 밖"},
        ],
    },
    "objective": 4,
    "technology": 3,
    "total": 7,
    "uncapped": {"objective": 4, "technology": 3},
    "caps": {"objective": 5, "technology": 5, "total": 10},
}


@pytest.fixture
def call() -> None:
    call_2025()


def write(tmp_path: Path, content: Any, *, raw: bool = False) -> Path:
    path = tmp_path / "evidence.json"
    path.write_text(content if raw else json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def run(path: Path, slug: str = CALL_2025_SLUG) -> str:
    out = io.StringIO()
    call_command("bonus", "--call", slug, "--evidence", str(path), stdout=out)
    return out.getvalue()


def refused(path: Path, slug: str = CALL_2025_SLUG) -> str:
    with pytest.raises(CommandError) as raised:
        run(path, slug)
    assert raised.value.returncode == 2
    return str(raised.value)


def test_prints_the_breakdown_of_the_sample_file_as_json(call: None, tmp_path: Path) -> None:
    output = run(write(tmp_path, SAMPLE))

    assert json.loads(output) == EXPECTED
    # Korean as Korean, indented by 2 (ensure_ascii=False, indent=2).
    assert output.startswith('{\n  "reference_date": "2025-07-07",')
    assert "내시경 AI 고도화" in output


def test_full_marks_are_capped_at_five_five_and_ten(call: None, tmp_path: Path) -> None:
    evidence = {
        "revenue": {"2021": 1, "2022": 1, "2023": 1, "2024": 2},
        "government_projects": [
            {"id": f"P-{n}", "title": "", "start": "2023-01-01", "end": "2023-12-31"} for n in range(5)
        ],
        "certifications": [{"name": name} for name in ("GS", "CC", "ISMS-P", "InnoBiz", "iso-9001")],
        "intellectual_property": [
            {"number": f"10-{n}", "kind": "patent", "registered_on": "2024-01-01"} for n in range(5)
        ],
    }

    result = json.loads(run(write(tmp_path, evidence)))

    assert [
        result[key]["points"]
        for key in ("revenue", "government_projects", "certifications", "intellectual_property")
    ] == [3, 2, 3, 2]
    assert (result["objective"], result["technology"], result["total"]) == (5, 5, 10)


def test_an_empty_object_scores_zero(call: None, tmp_path: Path) -> None:
    result = json.loads(run(write(tmp_path, {})))

    assert (result["objective"], result["technology"], result["total"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ([], "(file): not an object (got list)"),
        (
            {"certification": []},
            "certification: unknown field (expected one of: revenue, government_projects, certifications, intellectual_property)",
        ),
        ({"revenue": []}, "revenue: not an object (got list)"),
        ({"revenue": {"2024": "1억"}}, "revenue.2024: not an amount in won (got '1억')"),
        ({"revenue": {"2024": -1}}, "revenue.2024: not a whole, non-negative amount in won (got -1)"),
        ({"revenue": {"2024": 10.5}}, "revenue.2024: not a whole, non-negative amount in won (got 10.5)"),
        ({"revenue": {"provisional_2024": "yes"}}, "revenue.provisional_2024: not true or false (got 'yes')"),
        (
            {"revenue": {"this_year": 1}},
            'revenue.this_year: unknown field (expected a year such as "2024" or provisional_YYYY)',
        ),
        ({"government_projects": {}}, "government_projects: not a list (got dict)"),
        (
            {"government_projects": [{"title": "x", "start": "2023-01-01", "end": "2023-12-31"}]},
            "government_projects[0].id: missing",
        ),
        (
            {"government_projects": [{"id": 7, "start": "2023-01-01", "end": "2023-12-31"}]},
            "government_projects[0].id: not a string (got int)",
        ),
        (
            {"government_projects": [{"id": "P", "start": "2023-01-01"}]},
            "government_projects[0].end: missing",
        ),
        (
            {
                "certifications": [
                    {"name": "GS"},
                    {"name": "CC"},
                    {"name": "ISMS-P", "valid_until": "2025/07/07"},
                ]
            },
            "certifications[2].valid_until: not an ISO date (YYYY-MM-DD): '2025/07/07'",
        ),
        (
            {"certifications": [{"name": "GS", "valid_from": "2025-02-30"}]},
            "certifications[0].valid_from: not an ISO date (YYYY-MM-DD): '2025-02-30'",
        ),
        (
            {"certifications": [{"name": "GS", "valid_till": "2026-01-01"}]},
            "certifications[0].valid_till: unknown field (expected one of: name, valid_from, valid_until)",
        ),
        ({"certifications": ["GS"]}, "certifications[0]: not an object (got str)"),
        (
            {"intellectual_property": [{"number": "10-1", "kind": "patent"}]},
            "intellectual_property[0].registered_on: missing",
        ),
        (
            {"intellectual_property": [{"number": "  ", "registered_on": "2024-01-01"}]},
            "intellectual_property[0].number: empty",
        ),
    ],
)
def test_a_malformed_file_exits_2_naming_the_field(
    call: None, tmp_path: Path, evidence: Any, message: str
) -> None:
    path = write(tmp_path, evidence)

    assert refused(path) == f"{path}: {message}"


def test_a_file_that_is_not_json_exits_2(call: None, tmp_path: Path) -> None:
    path = write(tmp_path, '{"revenue": {"2024": 1,}}', raw=True)

    assert (
        refused(path)
        == f"{path}: not JSON (line 1, column 24: Expecting property name enclosed in double quotes)"
    )


def test_a_missing_file_exits_2(call: None, tmp_path: Path) -> None:
    message = refused(tmp_path / "absent.json")

    assert message.startswith(f"{tmp_path / 'absent.json'}: cannot read the file (")


def test_an_unknown_call_exits_2(call: None, tmp_path: Path) -> None:
    assert refused(write(tmp_path, SAMPLE), slug="khealth-daegu-2019") == "unknown call: khealth-daegu-2019"


def test_from_the_command_line_the_exit_status_is_2_and_the_error_goes_to_stderr(
    call: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import ManagementUtility

    path = write(tmp_path, {"certifications": [{"name": "GS", "valid_until": "7월"}]})

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["medbroker", "bonus", "--call", CALL_2025_SLUG, "--evidence", str(path)]).execute()

    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert captured.out == ""
    assert (
        captured.err
        == f"CommandError: {path}: certifications[0].valid_until: not an ISO date (YYYY-MM-DD): '7월'\n"
    )
