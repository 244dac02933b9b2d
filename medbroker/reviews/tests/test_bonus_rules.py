"""The bonus engine at every boundary of the 2025 rules (announcement §6.1). No database."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from medbroker.calls.definitions import BONUS_RULES_2025, CALL_2025
from medbroker.core.errors import DomainError
from medbroker.reviews.services.bonus import (
    BonusBreakdown,
    CertificationEvidence,
    Evidence,
    IntellectualPropertyEvidence,
    ListedCertification,
    NotCounted,
    ProjectEvidence,
    RevenueEvidence,
    bonus_compute,
    bonus_window,
    certification_name_normalise,
)

LISTED = [ListedCertification(c["name"], tuple(c["aliases"])) for c in CALL_2025["certifications"]]
D = Decimal
day = dt.date.fromisoformat

WINDOW = "2022-07-08~2025-07-07"


def compute(evidence: Evidence, rules: dict[str, Any] | None = None) -> BonusBreakdown:
    return bonus_compute(evidence, rules or BONUS_RULES_2025, certification_list=LISTED)


def rules_with(**changes: Any) -> dict[str, Any]:
    """BONUS_RULES_2025 with some settings changed; a key with "__" reaches inside ("revenue__accept_provisional")."""
    rules = copy.deepcopy(BONUS_RULES_2025)
    for dotted, value in changes.items():
        node = rules
        *parents, last = dotted.split("__")
        for name in parents:
            node = node[name]
        node[last] = value
    return rules


def revenue(**years: int) -> Evidence:
    return Evidence(revenue=RevenueEvidence(amounts={int(y[1:]): D(v) for y, v in years.items()}))


def project(project_id: str, start: str = "2023-01-01", end: str = "2023-12-31") -> ProjectEvidence:
    return ProjectEvidence(project_id=project_id, title="", started_on=day(start), ended_on=day(end))


def projects(count: int) -> list[ProjectEvidence]:
    return [project(f"RS-2023-{n:04d}") for n in range(1, count + 1)]


def certification(
    name: str, valid_from: str | None = None, valid_until: str | None = None
) -> CertificationEvidence:
    return CertificationEvidence(
        name=name,
        valid_from=day(valid_from) if valid_from else None,
        valid_until=day(valid_until) if valid_until else None,
    )


FIVE_LISTED = ["GS", "ISO 9001", "ISMS-P", "CC", "InnoBiz", "MainBiz"]


def certifications(count: int) -> list[CertificationEvidence]:
    return [certification(name) for name in FIVE_LISTED[:count]]


def registration(number: str, registered_on: str = "2024-03-01") -> IntellectualPropertyEvidence:
    return IntellectualPropertyEvidence(number=number, kind="patent", registered_on=day(registered_on))


def registrations(count: int) -> list[IntellectualPropertyEvidence]:
    return [registration(f"10-2024-{n:07d}") for n in range(1, count + 1)]


# ---------------------------------------------------------------------------------------------------------
# The window
# ---------------------------------------------------------------------------------------------------------


def test_window_is_the_three_years_up_to_and_including_the_first_day_of_intake() -> None:
    assert bonus_window(BONUS_RULES_2025) == (day("2025-07-07"), day("2022-07-08"), day("2025-07-07"))


def test_window_from_a_leap_day_reference_date_starts_the_day_after_28_february() -> None:
    rules = rules_with(reference_date="2024-02-29")

    assert bonus_window(rules) == (day("2024-02-29"), day("2021-03-01"), day("2024-02-29"))


@pytest.mark.parametrize(
    ("start", "end", "counted"),
    [
        ("2020-01-01", "2022-07-08", True),  # ends on the window's first day
        ("2020-01-01", "2022-07-07", False),  # ends the day before
        ("2025-07-07", "2026-12-31", True),  # starts on the reference date
        ("2025-07-08", "2026-12-31", False),  # starts the day after
        ("2019-01-01", "2027-12-31", True),  # spans the whole window
    ],
)
def test_a_project_counts_when_its_period_overlaps_the_window(start: str, end: str, counted: bool) -> None:
    result = compute(Evidence(government_projects=[project("P-1", start, end)])).government_projects

    assert result.count == (1 if counted else 0)
    if not counted:
        assert result.not_counted == (
            NotCounted("P-1", f"수행기간({start}~{end})이 평가기간({WINDOW})과 겹치지 않음"),
        )


@pytest.mark.parametrize(
    ("registered_on", "counted"),
    [("2022-07-07", False), ("2022-07-08", True), ("2025-07-07", True), ("2025-07-08", False)],
)
def test_a_registration_counts_when_registered_within_the_window(registered_on: str, counted: bool) -> None:
    result = compute(
        Evidence(intellectual_property=[registration("10-1", registered_on)])
    ).intellectual_property

    assert result.count == (1 if counted else 0)
    if not counted:
        assert result.not_counted == (NotCounted("10-1", f"등록일({registered_on})이 평가기간({WINDOW}) 밖"),)


# ---------------------------------------------------------------------------------------------------------
# Revenue
# ---------------------------------------------------------------------------------------------------------


def test_revenue_equal_to_the_average_is_maintained() -> None:
    result = compute(
        revenue(y2021=100_000_000, y2022=200_000_000, y2023=300_000_000, y2024=200_000_000)
    ).revenue

    assert result.points == D(2)
    assert result.reason == (
        "2024년 매출액 200,000,000원이 2021~2023년 평균 200,000,000원(3개 연도)과 같음 → 유지: 2점"
    )
    assert result.details["outcome"] == "maintained"
    assert result.counted == (
        "2021년 100,000,000원",
        "2022년 200,000,000원",
        "2023년 300,000,000원",
        "2024년 200,000,000원",
    )


def test_revenue_one_won_above_the_average_is_an_increase() -> None:
    result = compute(revenue(y2021=100, y2022=200, y2023=300, y2024=201)).revenue

    assert (result.points, result.details["outcome"]) == (D(3), "increase")
    assert result.reason == "2024년 매출액 201원이 2021~2023년 평균 200원(3개 연도)보다 많음 → 증가: 3점"


def test_revenue_one_won_below_the_average_is_a_decrease() -> None:
    result = compute(revenue(y2021=100, y2022=200, y2023=300, y2024=199)).revenue

    assert (result.points, result.details["outcome"]) == (D(0), "decrease")
    assert result.reason == "2024년 매출액 199원이 2021~2023년 평균 200원(3개 연도)보다 적음 → 감소: 0점"


def test_revenue_against_an_average_between_two_won_is_decided_exactly() -> None:
    # 301 / 3 = 100.333…: 100 is below it, 101 above it; neither is "equal" after rounding.
    below = compute(revenue(y2021=100, y2022=100, y2023=101, y2024=100)).revenue
    above = compute(revenue(y2021=100, y2022=100, y2023=101, y2024=101)).revenue

    assert (below.points, above.points) == (D(0), D(3))
    assert below.reason == "2024년 매출액 100원이 2021~2023년 평균 100.33원(3개 연도)보다 적음 → 감소: 0점"


@pytest.mark.parametrize(
    ("current", "outcome", "points"),
    [(1050, "maintained", 2), (1051, "increase", 3), (950, "maintained", 2), (949, "decrease", 0)],
)
def test_revenue_within_the_calls_tolerance_is_maintained(current: int, outcome: str, points: int) -> None:
    rules = rules_with(revenue__maintained_tolerance_percent=5)

    result = compute(revenue(y2021=1000, y2022=1000, y2023=1000, y2024=current), rules).revenue

    assert (result.details["outcome"], result.points) == (outcome, D(points))
    if outcome == "maintained":
        assert result.reason == (
            f"2024년 매출액 {current:,}원이 2021~2023년 평균 1,000원(3개 연도)과의 차이가 허용 범위(±5%) 이내 → 유지: 2점"
        )


def test_missing_revenue_years_are_left_out_of_the_average() -> None:
    result = compute(revenue(y2021=100, y2023=300, y2024=200)).revenue

    assert (result.points, result.details["baseline_years"]) == (D(2), [2021, 2023])
    assert result.reason == (
        "2024년 매출액 200원이 2021~2023년 평균 200원(2개 연도, 2022년 자료 없어 제외)과 같음 → 유지: 2점"
    )


def test_revenue_without_any_baseline_year_scores_zero_with_the_reason() -> None:
    result = compute(revenue(y2024=500)).revenue

    assert result.points == D(0)
    assert result.reason == "2021~2023년 매출액 자료가 없어 2024년과 비교할 기준이 없음: 0점"
    assert result.details == {"outcome": "no_baseline"}


def test_revenue_without_the_current_year_scores_zero_with_the_reason() -> None:
    result = compute(revenue(y2021=100, y2022=200, y2023=300)).revenue

    assert result.points == D(0)
    assert result.reason == "2024년 매출액 자료가 없어 증감을 판단할 수 없음: 0점"


def test_provisional_current_revenue_is_accepted_and_flagged() -> None:
    evidence = Evidence(
        revenue=RevenueEvidence(
            amounts={2021: D(100), 2022: D(100), 2023: D(100), 2024: D(150)},
            provisional_years=frozenset({2024}),
        )
    )

    result = compute(evidence).revenue

    assert result.points == D(3)
    assert result.details["provisional"] is True
    assert result.reason == (
        "2024년 매출액 150원(가결산)이 2021~2023년 평균 100원(3개 연도)보다 많음 → 증가: 3점"
        " ※ 2024년은 가결산 재무제표 기준"
    )


def test_provisional_current_revenue_scores_zero_where_the_call_refuses_it() -> None:
    evidence = Evidence(
        revenue=RevenueEvidence(amounts={2023: D(100), 2024: D(150)}, provisional_years=frozenset({2024}))
    )

    result = compute(evidence, rules_with(revenue__accept_provisional=False)).revenue

    assert result.points == D(0)
    assert result.reason.startswith("2024년 매출액이 가결산 기준이라 인정되지 않음: 0점")


def test_a_revenue_year_outside_the_comparison_is_listed_as_not_counted() -> None:
    result = compute(revenue(y2020=1, y2023=100, y2024=100)).revenue

    assert result.not_counted == (NotCounted("2020년 매출액", "비교 대상 연도가 아님"),)
    assert result.points == D(2)


# ---------------------------------------------------------------------------------------------------------
# Counted items: thresholds, duplicates
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "points", "band"),
    [
        (0, 0, "3건 미만"),
        (2, 0, "3건 미만"),
        (3, 1, "3건 이상 5건 미만"),
        (4, 1, "3건 이상 5건 미만"),
        (5, 2, "5건 이상"),
        (6, 2, "5건 이상"),
    ],
)
def test_projects_thresholds(count: int, points: int, band: str) -> None:
    result = compute(Evidence(government_projects=projects(count))).government_projects

    assert result.points == D(points)
    assert (
        result.reason
        == f"기준일(2025-07-07) 이전 3년({WINDOW}) 내 수행한 서로 다른 과제 {count}건 → {band}: {points}점"
    )


@pytest.mark.parametrize(("count", "points"), [(0, 0), (2, 0), (3, 2), (4, 2), (5, 3), (6, 3)])
def test_certifications_thresholds(count: int, points: int) -> None:
    result = compute(Evidence(certifications=certifications(count))).certifications

    assert (result.count, result.points) == (count, D(points))


def test_certifications_reason_names_the_band() -> None:
    result = compute(Evidence(certifications=certifications(4))).certifications

    assert (
        result.reason == "기준일(2025-07-07)에 유효한 인정 목록의 서로 다른 인증 4건 → 3건 이상 5건 미만: 2점"
    )
    assert result.counted == ("GS", "ISO 9001", "ISMS-P", "CC")


@pytest.mark.parametrize(("count", "points"), [(0, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2)])
def test_intellectual_property_thresholds(count: int, points: int) -> None:
    result = compute(Evidence(intellectual_property=registrations(count))).intellectual_property

    assert result.points == D(points)
    assert result.reason.endswith(
        f"서로 다른 등록 지식재산권 {count}건 → "
        + ("5건 이상" if count >= 5 else "3건 이상 5건 미만" if count >= 3 else "3건 미만")
        + f": {points}점"
    )


def test_the_same_project_id_written_differently_counts_once() -> None:
    evidence = Evidence(
        government_projects=[
            project("RS-2023-0001"),
            project("rs-2023-0001"),
            project(" RS-2023- 0001 "),
            *projects(3)[1:],
        ]
    )

    result = compute(evidence).government_projects

    assert (result.count, result.points) == (3, D(1))
    assert result.not_counted == (
        NotCounted("rs-2023-0001", "중복(과제 번호 RS-2023-0001)"),
        NotCounted(" RS-2023- 0001 ", "중복(과제 번호 RS-2023-0001)"),
    )
    assert result.reason == (
        f"기준일(2025-07-07) 이전 3년({WINDOW}) 내 수행한 서로 다른 과제 3건 → 3건 이상 5건 미만: 1점"
        " (제외 2건 — rs-2023-0001: 중복(과제 번호 RS-2023-0001);  RS-2023- 0001 : 중복(과제 번호 RS-2023-0001))"
    )


def test_five_projects_with_one_duplicate_are_four() -> None:
    evidence = Evidence(government_projects=[*projects(4), project("RS-2023-0004")])

    assert compute(evidence).government_projects.points == D(1)


def test_a_duplicate_outside_the_window_does_not_hide_the_one_inside() -> None:
    evidence = Evidence(
        government_projects=[
            project("P-1", "2018-01-01", "2019-12-31"),
            project("P-1", "2023-01-01", "2023-12-31"),
        ]
    )

    result = compute(evidence).government_projects

    assert result.count == 1
    assert (
        result.not_counted[0].reason == f"수행기간(2018-01-01~2019-12-31)이 평가기간({WINDOW})과 겹치지 않음"
    )


def test_a_project_ending_before_it_starts_is_not_counted() -> None:
    result = compute(
        Evidence(government_projects=[project("P-1", "2024-01-01", "2023-01-01")])
    ).government_projects

    assert result.not_counted == (NotCounted("P-1", "종료일이 시작일보다 빠름"),)


def test_the_same_registration_number_counts_once() -> None:
    evidence = Evidence(
        intellectual_property=[
            *registrations(3),
            registration("10-2024-0000001"),
            registration("10-2024-0000001 "),
        ]
    )

    result = compute(evidence).intellectual_property

    assert (result.count, result.points) == (3, D(1))
    assert [n.reason for n in result.not_counted] == ["중복(등록번호 10-2024-0000001)"] * 2


# ---------------------------------------------------------------------------------------------------------
# Certifications: the list, aliases, validity
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["ISO 9001", "IOS9001", "iso-9001", "ISO9001", "iso 9001", "ISO/9001"])
def test_iso_9001_matches_however_it_is_written(written: str) -> None:
    result = compute(Evidence(certifications=[certification(written)])).certifications

    assert result.count == 1


def test_the_announcements_ios9001_spelling_is_shown_with_its_listed_name() -> None:
    result = compute(Evidence(certifications=[certification("IOS9001")])).certifications

    assert result.counted == ("IOS9001(=ISO 9001)",)


def test_the_same_certification_by_name_and_alias_counts_once() -> None:
    evidence = Evidence(
        certifications=[
            certification("ISO 9001"),
            certification("IOS9001"),
            certification("iso-9001"),
            certification("GS"),
            certification("GS인증"),
        ]
    )

    result = compute(evidence).certifications

    assert result.counted == ("ISO 9001", "GS")
    assert result.not_counted == (
        NotCounted("IOS9001", "중복(ISO 9001)"),
        NotCounted("iso-9001", "중복(ISO 9001)"),
        NotCounted("GS인증", "중복(GS)"),
    )


def test_a_certification_not_on_the_list_is_not_counted_with_the_reason() -> None:
    evidence = Evidence(certifications=[*certifications(3), certification("ISO 14001")])

    result = compute(evidence).certifications

    assert (result.count, result.points) == (3, D(2))
    assert result.not_counted == (NotCounted("ISO 14001", "공고의 인정 인증 목록에 없음"),)
    assert result.reason.endswith("(제외 1건 — ISO 14001: 공고의 인정 인증 목록에 없음)")


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "why"),
    [
        ("2022-01-01", "2025-07-07", None),  # ends on the reference date: still valid
        ("2022-01-01", "2025-07-06", "기준일(2025-07-07) 이전 만료(유효 종료일 2025-07-06)"),
        ("2025-07-07", "2028-07-06", None),  # starts on the reference date
        ("2025-07-08", "2028-07-07", "기준일(2025-07-07) 이후 유효(유효 시작일 2025-07-08)"),
        (None, None, None),  # no dates: open-ended
        (None, "2025-07-06", "기준일(2025-07-07) 이전 만료(유효 종료일 2025-07-06)"),
        ("2025-07-08", None, "기준일(2025-07-07) 이후 유효(유효 시작일 2025-07-08)"),
    ],
)
def test_a_certification_counts_only_when_valid_on_the_reference_date(
    valid_from: str | None, valid_until: str | None, why: str | None
) -> None:
    result = compute(Evidence(certifications=[certification("GS", valid_from, valid_until)])).certifications

    assert result.count == (0 if why else 1)
    assert result.not_counted == ((NotCounted("GS", why),) if why else ())


def test_an_expired_certification_counts_where_the_call_does_not_require_validity() -> None:
    rules = rules_with(certifications__must_be_valid_on_reference_date=False)

    result = compute(
        Evidence(certifications=[certification("GS", "2020-01-01", "2021-01-01")]), rules
    ).certifications

    assert result.count == 1
    assert result.reason == "인정 목록의 서로 다른 인증 1건 → 3건 미만: 0점"


def test_an_expired_copy_does_not_hide_a_valid_one() -> None:
    evidence = Evidence(
        certifications=[
            certification("GS", "2019-01-01", "2022-01-01"),
            certification("GS인증", "2024-01-01", "2027-01-01"),
        ]
    )

    result = compute(evidence).certifications

    assert result.counted == ("GS인증(=GS)",)


def test_certification_names_normalise_case_spaces_hyphens_and_slashes() -> None:
    assert (
        certification_name_normalise(" ISO/IEC 27001 ")
        == certification_name_normalise("iso-iec27001")
        == "isoiec27001"
    )


# ---------------------------------------------------------------------------------------------------------
# Caps and totals
# ---------------------------------------------------------------------------------------------------------


def _full_marks() -> Evidence:
    return Evidence(
        revenue=RevenueEvidence(amounts={2021: D(1), 2022: D(1), 2023: D(1), 2024: D(2)}),
        government_projects=projects(5),
        certifications=certifications(5),
        intellectual_property=registrations(5),
    )


def test_full_marks_are_five_and_five_and_ten() -> None:
    breakdown = compute(_full_marks())

    assert [item.points for item in breakdown.items] == [D(3), D(2), D(3), D(2)]
    assert (breakdown.objective, breakdown.technology, breakdown.total) == (D(5), D(5), D(10))
    assert (breakdown.objective_uncapped, breakdown.technology_uncapped) == (D(5), D(5))


def test_smaller_caps_cap_each_group_and_the_total() -> None:
    rules = rules_with(caps={"objective": 4, "technology": 3, "total": 6})

    breakdown = compute(_full_marks(), rules)

    assert (breakdown.objective, breakdown.technology, breakdown.total) == (D(4), D(3), D(6))
    assert (breakdown.objective_uncapped, breakdown.technology_uncapped) == (D(5), D(5))
    assert breakdown.as_dict()["caps"] == {"objective": 4, "technology": 3, "total": 6}


def test_no_evidence_scores_zero_everywhere() -> None:
    breakdown = compute(Evidence())

    assert (breakdown.objective, breakdown.technology, breakdown.total) == (D(0), D(0), D(0))
    assert breakdown.revenue.reason == "2024년 매출액 자료가 없어 증감을 판단할 수 없음: 0점"


def test_evidence_set_aside_before_the_engine_is_explained() -> None:
    evidence = Evidence(
        government_projects=projects(3),
        set_aside={"government_projects": (NotCounted("RS-9(미확인 과제)", "운영자 확인 전", 9),)},
    )

    result = compute(evidence).government_projects

    assert result.not_counted == (NotCounted("RS-9(미확인 과제)", "운영자 확인 전", 9),)
    assert result.reason.endswith("(제외 1건 — RS-9(미확인 과제): 운영자 확인 전)")


def test_incomplete_rules_name_the_missing_setting() -> None:
    rules = copy.deepcopy(BONUS_RULES_2025)
    del rules["caps"]["technology"]

    with pytest.raises(DomainError) as raised:
        compute(Evidence(), rules)

    assert (raised.value.code, raised.value.field) == ("bonus_rules_invalid", "caps.technology")
