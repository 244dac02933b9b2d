"""The bonus points (우대사항 점수) of an application, computed from its evidence: announcement §6.1.

A pure engine: :func:`bonus_compute` reads plain dataclasses and the call's rules (``Call.bonus_rules``,
defaults in ``calls.definitions.BONUS_RULES_2025``) and never touches the database, so the same code serves
the applicant's preview, the operator's verified score, the ranking and the offline ``medbroker bonus``
command. Every item carries a Korean sentence saying what was counted, under which rule, and what was
left out and why: a company that loses on a point must be able to see the reason.

Money and points are ``Decimal``; floats never enter a comparison that decides points.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from medbroker.core.errors import DomainError

# Output keys of the four items, in the order of the announcement's table.
REVENUE = "revenue"
GOVERNMENT_PROJECTS = "government_projects"
CERTIFICATIONS = "certifications"
INTELLECTUAL_PROPERTY = "intellectual_property"
ITEM_KEYS = (REVENUE, GOVERNMENT_PROJECTS, CERTIFICATIONS, INTELLECTUAL_PROPERTY)

# Where each item's settings live in the rules dict (the rules call the projects item "projects").
_RULE_KEYS = {
    REVENUE: "revenue",
    GOVERNMENT_PROJECTS: "projects",
    CERTIFICATIONS: "certifications",
    INTELLECTUAL_PROPERTY: "intellectual_property",
}
ITEM_LABELS = {
    REVENUE: "매출액 증감",
    GOVERNMENT_PROJECTS: "정부과제·자체기술개발 실적",
    CERTIFICATIONS: "기술 및 품질 인증",
    INTELLECTUAL_PROPERTY: "지식재산권",
}
GROUP_LABELS = {"objective": "객관적 지표", "technology": "기술 및 인증"}

# ---------------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotCounted:
    """One piece of evidence left out of an item, and why (a Korean phrase)."""

    evidence: str
    reason: str
    ref: Any = None


@dataclass(frozen=True)
class RevenueEvidence:
    # Amount in won per year; a year with no figure is simply absent.
    amounts: Mapping[int, Decimal] = field(default_factory=dict)
    # Years whose figure comes from a provisional statement (가결산재무제표).
    provisional_years: frozenset[int] = frozenset()
    # Evidence reference per year (the RevenueRecord pk; None offline).
    refs: Mapping[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectEvidence:
    project_id: str
    title: str
    started_on: dt.date
    ended_on: dt.date
    ref: Any = None

    @property
    def label(self) -> str:
        return f"{self.project_id}({self.title})" if self.title else self.project_id


@dataclass(frozen=True)
class CertificationEvidence:
    name: str
    # Open-ended when missing: see _certification_is_valid_on.
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    ref: Any = None

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class IntellectualPropertyEvidence:
    number: str
    kind: str
    registered_on: dt.date
    title: str = ""
    ref: Any = None

    @property
    def label(self) -> str:
        return f"{self.number}({self.title})" if self.title else self.number


@dataclass(frozen=True)
class ListedCertification:
    """A certification on the call's list (announcement 붙임), with the other ways it is written."""

    name: str
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class Evidence:
    """Everything the bonus is computed from, in the shape of the ``medbroker bonus`` evidence file."""

    revenue: RevenueEvidence = field(default_factory=RevenueEvidence)
    government_projects: Sequence[ProjectEvidence] = ()
    certifications: Sequence[CertificationEvidence] = ()
    intellectual_property: Sequence[IntellectualPropertyEvidence] = ()
    # Evidence set aside before the engine saw it (for instance not verified by an operator), per item key;
    # listed in the explanation so the company sees why a row it entered does not count.
    set_aside: Mapping[str, Sequence[NotCounted]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    key: str
    label: str
    group: str
    points: Decimal
    # The whole explanation: ``summary`` followed by what was left out and why.
    reason: str
    # What was counted (labels of the evidence) and its references, in input order.
    counted: tuple[str, ...] = ()
    counted_refs: tuple[Any, ...] = ()
    not_counted: tuple[NotCounted, ...] = ()
    # Item-specific facts (revenue: the outcome, the current figure, the baseline average).
    details: Mapping[str, Any] = field(default_factory=dict)
    # The explanation's first sentence (count, rule, points), for pages that list exclusions separately.
    summary: str = ""

    @property
    def count(self) -> int:
        return len(self.counted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": _json_number(self.points),
            "reason": self.reason,
            "count": self.count,
            "counted": list(self.counted),
            "not_counted": [{"evidence": n.evidence, "reason": n.reason} for n in self.not_counted],
            **({"details": dict(self.details)} if self.details else {}),
        }


@dataclass(frozen=True)
class BonusBreakdown:
    revenue: ItemResult
    government_projects: ItemResult
    certifications: ItemResult
    intellectual_property: ItemResult
    # Group subtotals and total after the caps (announcement §6: 5 + 5, 10 in all).
    objective: Decimal
    technology: Decimal
    total: Decimal
    objective_uncapped: Decimal
    technology_uncapped: Decimal
    reference_date: dt.date
    window_start: dt.date
    window_end: dt.date
    caps: Mapping[str, Decimal]

    @property
    def items(self) -> tuple[ItemResult, ...]:
        return (self.revenue, self.government_projects, self.certifications, self.intellectual_property)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``medbroker bonus`` (and of any export that shows the breakdown)."""
        return {
            "reference_date": self.reference_date.isoformat(),
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            **{item.key: item.as_dict() for item in self.items},
            "objective": _json_number(self.objective),
            "technology": _json_number(self.technology),
            "total": _json_number(self.total),
            "uncapped": {
                "objective": _json_number(self.objective_uncapped),
                "technology": _json_number(self.technology_uncapped),
            },
            "caps": {name: _json_number(value) for name, value in self.caps.items()},
        }


def _json_number(value: Decimal) -> int | float:
    # Points are whole numbers in every call so far; a fractional rule would still print exactly.
    return int(value) if value == value.to_integral_value() else float(value)


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def identifier_normalise(value: str) -> str:
    """Project ids and registration numbers: the same id typed with other case or spacing is one item."""
    return re.sub(r"\s+", "", value).casefold()


def certification_name_normalise(value: str) -> str:
    """ "ISO 9001", "iso-9001" and "ISO9001" are one certification; "IOS9001" is matched by its alias."""
    return re.sub(r"[\s\-/]+", "", value).casefold()


def _decimal(value: Any, *, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise DomainError("bonus_rules_invalid", f"우대사항 규칙 {name}: 숫자가 아닙니다.", field=name)
    try:
        return Decimal(str(value))
    except ArithmeticError as error:
        raise DomainError(
            "bonus_rules_invalid", f"우대사항 규칙 {name}: 숫자가 아닙니다.", field=name
        ) from error


def _rule(rules: Mapping[str, Any], *path: str) -> Any:
    node: Any = rules
    for index, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            name = ".".join(path[: index + 1])
            raise DomainError("bonus_rules_invalid", f"우대사항 규칙에 {name} 설정이 없습니다.", field=name)
        node = node[key]
    return node


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def bonus_window(rules: Mapping[str, Any]) -> tuple[dt.date, dt.date, dt.date]:
    """(reference date, first day, last day) of the "last N years" window.

    "최근 3년" is read as the 3 years up to and including the reference date (the first day of intake):
    for 2025-07-07 that is 2022-07-08 to 2025-07-07, both days included — exactly 3 years, not 3 years
    and a day. Evidence dated after the reference date is outside: it did not exist when intake opened.
    """
    reference = dt.date.fromisoformat(str(_rule(rules, "reference_date")))
    years = int(_rule(rules, "window_years"))
    return reference, _years_before(reference, years) + dt.timedelta(days=1), reference


def _won(amount: Decimal) -> str:
    # An average of three years can fall between two won: show it to the jeon (two places) rather than
    # print "평균 100원보다 적음" for 100 won against an average of 100.33.
    if amount == amount.to_integral_value():
        return f"{amount.quantize(Decimal(1)):,}원"
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}원"


def _points_text(points: Decimal) -> str:
    return f"{_json_number(points)}점"


def _thresholds(rules: Mapping[str, Any], rule_key: str) -> tuple[list[tuple[int, Decimal]], Decimal]:
    raw = _rule(rules, rule_key, "thresholds")
    if not isinstance(raw, Sequence) or not raw:
        raise DomainError(
            "bonus_rules_invalid", f"우대사항 규칙 {rule_key}.thresholds가 비어 있습니다.", field=rule_key
        )
    thresholds = sorted(
        ((int(minimum), _decimal(points, name=f"{rule_key}.thresholds")) for minimum, points in raw),
        key=lambda pair: pair[0],
        reverse=True,
    )
    return thresholds, _decimal(_rule(rules, rule_key, "otherwise"), name=f"{rule_key}.otherwise")


def _points_for_count(
    count: int, thresholds: list[tuple[int, Decimal]], otherwise: Decimal
) -> tuple[Decimal, str]:
    """Points for ``count`` distinct items, and the band that applied ("3건 이상 5건 미만")."""
    upper: int | None = None
    for minimum, points in thresholds:
        if count >= minimum:
            band = f"{minimum}건 이상" if upper is None else f"{minimum}건 이상 {upper}건 미만"
            return points, band
        upper = minimum
    return otherwise, f"{thresholds[-1][0]}건 미만"


def _with_exclusions(sentence: str, not_counted: Sequence[NotCounted]) -> str:
    if not not_counted:
        return sentence
    listed = "; ".join(f"{item.evidence}: {item.reason}" for item in not_counted)
    return f"{sentence} (제외 {len(not_counted)}건 — {listed})"


def _year_span(years: Sequence[int]) -> str:
    ordered = sorted(years)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return f"{ordered[0]}~{ordered[-1]}년"
    return "·".join(str(year) for year in ordered) + "년"


# ---------------------------------------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------------------------------------


def _revenue_result(
    evidence: RevenueEvidence, rules: Mapping[str, Any], set_aside: Sequence[NotCounted]
) -> ItemResult:
    current_year = int(_rule(rules, "revenue", "current_year"))
    baseline_years = [int(year) for year in _rule(rules, "revenue", "baseline_years")]
    points_by_outcome = {
        outcome: _decimal(_rule(rules, "revenue", "points", outcome), name=f"revenue.points.{outcome}")
        for outcome in ("increase", "maintained", "decrease")
    }
    tolerance = _decimal(
        _rule(rules, "revenue", "maintained_tolerance_percent"), name="revenue.maintained_tolerance_percent"
    )
    accept_provisional = bool(_rule(rules, "revenue", "accept_provisional"))
    group = str(rules["revenue"].get("group", "objective"))
    not_counted = list(set_aside)
    span = _year_span(baseline_years)

    def result(points: Decimal, sentence: str, counted_years: Sequence[int], **details: Any) -> ItemResult:
        return ItemResult(
            key=REVENUE,
            label=ITEM_LABELS[REVENUE],
            group=group,
            points=points,
            reason=_with_exclusions(sentence, not_counted),
            summary=sentence,
            counted=tuple(f"{year}년 {_won(evidence.amounts[year])}" for year in counted_years),
            counted_refs=tuple(evidence.refs.get(year) for year in counted_years),
            not_counted=tuple(not_counted),
            details=details,
        )

    for year in sorted(evidence.amounts):
        if year != current_year and year not in baseline_years:
            not_counted.append(
                NotCounted(f"{year}년 매출액", "비교 대상 연도가 아님", evidence.refs.get(year))
            )
    baseline = [year for year in baseline_years if year in evidence.amounts]
    missing = [year for year in baseline_years if year not in evidence.amounts]
    zero = Decimal(0)

    current = evidence.amounts.get(current_year)
    if current is None:
        return result(
            zero, f"{current_year}년 매출액 자료가 없어 증감을 판단할 수 없음: 0점", [], outcome="no_current"
        )
    provisional = current_year in evidence.provisional_years
    if provisional and not accept_provisional:
        not_counted.append(
            NotCounted(f"{current_year}년 매출액", "가결산 재무제표는 이 공모에서 인정하지 않음")
        )
        return result(
            zero,
            f"{current_year}년 매출액이 가결산 기준이라 인정되지 않음: 0점",
            [],
            outcome="provisional_refused",
        )
    if not baseline:
        return result(
            zero,
            f"{span} 매출액 자료가 없어 {current_year}년과 비교할 기준이 없음: 0점",
            [],
            outcome="no_baseline",
        )

    total = sum((evidence.amounts[year] for year in baseline), zero)
    count = Decimal(len(baseline))
    average = total / count
    # Decide on current × n against the sum, both exact, so a non-terminating average (sum / 3) never
    # turns an equal revenue into a rounding-error "increase".
    difference = current * count - total
    allowed = total * tolerance / Decimal(100)
    current_text = f"{current_year}년 매출액 {_won(current)}" + ("(가결산)" if provisional else "")
    basis = f"{span} 평균 {_won(average)}({len(baseline)}개 연도"
    basis += f", {', '.join(f'{year}년' for year in missing)} 자료 없어 제외)" if missing else ")"
    if abs(difference) <= allowed:
        outcome = "maintained"
        comparison = "과 같음" if tolerance == 0 else f"과의 차이가 허용 범위(±{tolerance}%) 이내"
        sentence = f"{current_text}이 {basis}{comparison} → 유지: {_points_text(points_by_outcome[outcome])}"
    elif difference > 0:
        outcome = "increase"
        sentence = f"{current_text}이 {basis}보다 많음 → 증가: {_points_text(points_by_outcome[outcome])}"
    else:
        outcome = "decrease"
        sentence = f"{current_text}이 {basis}보다 적음 → 감소: {_points_text(points_by_outcome[outcome])}"
    if provisional:
        sentence += f" ※ {current_year}년은 가결산 재무제표 기준"
    return result(
        points_by_outcome[outcome],
        sentence,
        [*baseline, current_year],
        outcome=outcome,
        current=_json_number(current),
        baseline_average=_json_number(average.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
        baseline_years=baseline,
        provisional=provisional,
    )


def _counted_item(
    *,
    key: str,
    rules: Mapping[str, Any],
    noun: str,
    scope: str,
    counted: list[tuple[str, Any]],
    not_counted: list[NotCounted],
) -> ItemResult:
    rule_key = _RULE_KEYS[key]
    thresholds, otherwise = _thresholds(rules, rule_key)
    points, band = _points_for_count(len(counted), thresholds, otherwise)
    sentence = f"{scope} 서로 다른 {noun} {len(counted)}건 → {band}: {_points_text(points)}"
    return ItemResult(
        key=key,
        label=ITEM_LABELS[key],
        group=str(rules[rule_key].get("group", "objective" if key == GOVERNMENT_PROJECTS else "technology")),
        points=points,
        reason=_with_exclusions(sentence, not_counted),
        summary=sentence,
        counted=tuple(label for label, _ in counted),
        counted_refs=tuple(ref for _, ref in counted),
        not_counted=tuple(not_counted),
    )


def _projects_result(
    projects: Sequence[ProjectEvidence],
    rules: Mapping[str, Any],
    window: tuple[dt.date, dt.date, dt.date],
    set_aside: Sequence[NotCounted],
) -> ItemResult:
    reference, start, end = window
    counted: list[tuple[str, Any]] = []
    not_counted = list(set_aside)
    seen: dict[str, str] = {}
    for project in projects:
        if project.ended_on < project.started_on:
            not_counted.append(NotCounted(project.label, "종료일이 시작일보다 빠름", project.ref))
            continue
        # A project counts when any part of its period falls inside the window (announcement: "최근 3년간
        # 수행"), so one that started before the window but ran into it is counted.
        if project.ended_on < start or project.started_on > end:
            not_counted.append(
                NotCounted(
                    project.label,
                    f"수행기간({project.started_on}~{project.ended_on})이 평가기간({start}~{end})과 겹치지 않음",
                    project.ref,
                )
            )
            continue
        key = identifier_normalise(project.project_id)
        if key in seen:
            not_counted.append(NotCounted(project.label, f"중복(과제 번호 {seen[key]})", project.ref))
            continue
        seen[key] = project.project_id
        counted.append((project.label, project.ref))
    years = int(_rule(rules, "window_years"))
    return _counted_item(
        key=GOVERNMENT_PROJECTS,
        rules=rules,
        noun="과제",
        scope=f"기준일({reference}) 이전 {years}년({start}~{end}) 내 수행한",
        counted=counted,
        not_counted=not_counted,
    )


def _certification_is_valid_on(certification: CertificationEvidence, day: dt.date) -> bool:
    # A certificate without a start or end date is read as open-ended on that side: many Korean
    # certifications (InnoBiz, GS) are printed with a single date, and the operator who verifies the
    # certificate is the one who rejects a lapsed one.
    if certification.valid_from is not None and certification.valid_from > day:
        return False
    return not (certification.valid_until is not None and certification.valid_until < day)


def _certifications_result(
    certifications: Sequence[CertificationEvidence],
    rules: Mapping[str, Any],
    window: tuple[dt.date, dt.date, dt.date],
    certification_list: Sequence[ListedCertification],
    set_aside: Sequence[NotCounted],
) -> ItemResult:
    reference = window[0]
    must_be_valid = bool(rules["certifications"].get("must_be_valid_on_reference_date", True))
    by_name: dict[str, str] = {}
    for listed in certification_list:
        for written in (listed.name, *listed.aliases):
            by_name.setdefault(certification_name_normalise(written), listed.name)
    counted: list[tuple[str, Any]] = []
    not_counted = list(set_aside)
    seen: set[str] = set()
    for certification in certifications:
        listed_name = by_name.get(certification_name_normalise(certification.name))
        if listed_name is None:
            not_counted.append(
                NotCounted(certification.label, "공고의 인정 인증 목록에 없음", certification.ref)
            )
            continue
        if (
            certification.valid_from is not None
            and certification.valid_until is not None
            and certification.valid_until < certification.valid_from
        ):
            not_counted.append(
                NotCounted(certification.label, "유효 종료일이 유효 시작일보다 빠름", certification.ref)
            )
            continue
        if must_be_valid and not _certification_is_valid_on(certification, reference):
            if certification.valid_from is not None and certification.valid_from > reference:
                why = f"기준일({reference}) 이후 유효(유효 시작일 {certification.valid_from})"
            else:
                why = f"기준일({reference}) 이전 만료(유효 종료일 {certification.valid_until})"
            not_counted.append(NotCounted(certification.label, why, certification.ref))
            continue
        if listed_name in seen:
            not_counted.append(NotCounted(certification.label, f"중복({listed_name})", certification.ref))
            continue
        seen.add(listed_name)
        label = (
            listed_name
            if certification_name_normalise(certification.name) == certification_name_normalise(listed_name)
            else f"{certification.name}(={listed_name})"
        )
        counted.append((label, certification.ref))
    scope = f"기준일({reference})에 유효한 인정 목록의" if must_be_valid else "인정 목록의"
    return _counted_item(
        key=CERTIFICATIONS,
        rules=rules,
        noun="인증",
        scope=scope,
        counted=counted,
        not_counted=not_counted,
    )


def _intellectual_property_result(
    registrations: Sequence[IntellectualPropertyEvidence],
    rules: Mapping[str, Any],
    window: tuple[dt.date, dt.date, dt.date],
    set_aside: Sequence[NotCounted],
) -> ItemResult:
    reference, start, end = window
    counted: list[tuple[str, Any]] = []
    not_counted = list(set_aside)
    seen: dict[str, str] = {}
    for registration in registrations:
        if not start <= registration.registered_on <= end:
            not_counted.append(
                NotCounted(
                    registration.label,
                    f"등록일({registration.registered_on})이 평가기간({start}~{end}) 밖",
                    registration.ref,
                )
            )
            continue
        key = identifier_normalise(registration.number)
        if key in seen:
            not_counted.append(
                NotCounted(registration.label, f"중복(등록번호 {seen[key]})", registration.ref)
            )
            continue
        seen[key] = registration.number
        counted.append((registration.label, registration.ref))
    years = int(_rule(rules, "window_years"))
    return _counted_item(
        key=INTELLECTUAL_PROPERTY,
        rules=rules,
        noun="등록 지식재산권",
        scope=f"기준일({reference}) 이전 {years}년({start}~{end}) 내",
        counted=counted,
        not_counted=not_counted,
    )


# ---------------------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------------------


def bonus_compute(
    evidence: Evidence,
    rules: Mapping[str, Any],
    *,
    certification_list: Sequence[ListedCertification],
) -> BonusBreakdown:
    """The bonus breakdown of ``evidence`` under ``rules``, counting every piece of evidence given.

    ``certification_list`` is the call's list of certifications that count (``Call.certifications``).
    Raises ``DomainError("bonus_rules_invalid")`` naming the setting when the rules are incomplete.
    """
    window = bonus_window(rules)
    set_aside = evidence.set_aside
    revenue = _revenue_result(evidence.revenue, rules, set_aside.get(REVENUE, ()))
    projects = _projects_result(
        evidence.government_projects, rules, window, set_aside.get(GOVERNMENT_PROJECTS, ())
    )
    certifications = _certifications_result(
        evidence.certifications, rules, window, certification_list, set_aside.get(CERTIFICATIONS, ())
    )
    intellectual_property = _intellectual_property_result(
        evidence.intellectual_property, rules, window, set_aside.get(INTELLECTUAL_PROPERTY, ())
    )
    caps = {
        name: _decimal(_rule(rules, "caps", name), name=f"caps.{name}")
        for name in ("objective", "technology", "total")
    }
    subtotals = {"objective": Decimal(0), "technology": Decimal(0)}
    for item in (revenue, projects, certifications, intellectual_property):
        if item.group not in subtotals:
            raise DomainError(
                "bonus_rules_invalid",
                f"우대사항 규칙 {_RULE_KEYS[item.key]}.group: objective 또는 technology여야 합니다.",
                field=f"{_RULE_KEYS[item.key]}.group",
            )
        subtotals[item.group] += item.points
    # Caps per group, then on the total (announcement §6: objective ≤ 5, technology ≤ 5, bonus ≤ 10).
    objective = min(subtotals["objective"], caps["objective"])
    technology = min(subtotals["technology"], caps["technology"])
    return BonusBreakdown(
        revenue=revenue,
        government_projects=projects,
        certifications=certifications,
        intellectual_property=intellectual_property,
        objective=objective,
        technology=technology,
        total=min(objective + technology, caps["total"]),
        objective_uncapped=subtotals["objective"],
        technology_uncapped=subtotals["technology"],
        reference_date=window[0],
        window_start=window[1],
        window_end=window[2],
        caps=caps,
    )


# ---------------------------------------------------------------------------------------------------------
# The evidence file of ``medbroker bonus``
# ---------------------------------------------------------------------------------------------------------


class EvidenceFileError(DomainError):
    """A malformed evidence file; ``field`` is the path of the offending value ("certifications[2].name")."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__("evidence_file_invalid", f"{field}: {problem}", field=field)


_SECTIONS = ("revenue", "government_projects", "certifications", "intellectual_property")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REVENUE_YEAR = re.compile(r"\d{4}")
_REVENUE_PROVISIONAL = re.compile(r"provisional_(\d{4})")


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise EvidenceFileError(path, f"not an object (got {type(value).__name__})")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise EvidenceFileError(path, f"not a list (got {type(value).__name__})")
    return value


def _only_fields(row: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    # An unknown key is most often a typo ("valid_till"): refusing it beats silently counting nothing.
    for name in row:
        if name not in allowed:
            raise EvidenceFileError(
                f"{path}.{name}", f"unknown field (expected one of: {', '.join(allowed)})"
            )


def _text(row: Mapping[str, Any], path: str, name: str, *, required: bool) -> str:
    if name not in row or row[name] is None:
        if required:
            raise EvidenceFileError(f"{path}.{name}", "missing")
        return ""
    value = row[name]
    if not isinstance(value, str):
        raise EvidenceFileError(f"{path}.{name}", f"not a string (got {type(value).__name__})")
    if required and not value.strip():
        raise EvidenceFileError(f"{path}.{name}", "empty")
    return value.strip()


def _date(row: Mapping[str, Any], path: str, name: str, *, required: bool) -> dt.date | None:
    if name not in row or row[name] is None:
        if required:
            raise EvidenceFileError(f"{path}.{name}", "missing")
        return None
    value = row[name]
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise EvidenceFileError(f"{path}.{name}", f"not an ISO date (YYYY-MM-DD): {value!r}")


def _revenue_from_file(value: Any) -> RevenueEvidence:
    section = _object(value, "revenue")
    amounts: dict[int, Decimal] = {}
    provisional: set[int] = set()
    for name, amount in section.items():
        path = f"revenue.{name}"
        flag = _REVENUE_PROVISIONAL.fullmatch(name)
        if flag:
            if not isinstance(amount, bool):
                raise EvidenceFileError(path, f"not true or false (got {amount!r})")
            if amount:
                provisional.add(int(flag.group(1)))
            continue
        if not _REVENUE_YEAR.fullmatch(name):
            raise EvidenceFileError(
                path, 'unknown field (expected a year such as "2024" or provisional_YYYY)'
            )
        if amount is None:  # a year the company has no figure for
            continue
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
            raise EvidenceFileError(path, f"not an amount in won (got {amount!r})")
        amount = Decimal(amount)
        if amount != amount.to_integral_value() or amount < 0:
            raise EvidenceFileError(path, f"not a whole, non-negative amount in won (got {amount})")
        amounts[int(name)] = amount
    return RevenueEvidence(amounts=amounts, provisional_years=frozenset(provisional))


def evidence_from_file_data(data: Any) -> Evidence:
    """The engine's input from a parsed evidence file (numbers parsed as Decimal: ``parse_float=Decimal``).

    Every section is optional (an absent one means no evidence of that kind); within a row the fields of
    the issue's format are required except a project's title, an IP's kind and a certificate's dates.
    Raises :class:`EvidenceFileError` naming the first wrong field.
    """
    root = _object(data, "(file)")
    for name in root:
        if name not in _SECTIONS:
            raise EvidenceFileError(name, f"unknown field (expected one of: {', '.join(_SECTIONS)})")
    revenue = _revenue_from_file(root["revenue"]) if "revenue" in root else RevenueEvidence()

    projects: list[ProjectEvidence] = []
    for index, raw in enumerate(_list(root.get("government_projects", []), "government_projects")):
        path = f"government_projects[{index}]"
        row = _object(raw, path)
        _only_fields(row, path, ("id", "title", "start", "end"))
        start, end = _date(row, path, "start", required=True), _date(row, path, "end", required=True)
        assert start is not None and end is not None
        projects.append(
            ProjectEvidence(
                project_id=_text(row, path, "id", required=True),
                title=_text(row, path, "title", required=False),
                started_on=start,
                ended_on=end,
                ref=index,
            )
        )

    certifications: list[CertificationEvidence] = []
    for index, raw in enumerate(_list(root.get("certifications", []), "certifications")):
        path = f"certifications[{index}]"
        row = _object(raw, path)
        _only_fields(row, path, ("name", "valid_from", "valid_until"))
        certifications.append(
            CertificationEvidence(
                name=_text(row, path, "name", required=True),
                valid_from=_date(row, path, "valid_from", required=False),
                valid_until=_date(row, path, "valid_until", required=False),
                ref=index,
            )
        )

    registrations: list[IntellectualPropertyEvidence] = []
    for index, raw in enumerate(_list(root.get("intellectual_property", []), "intellectual_property")):
        path = f"intellectual_property[{index}]"
        row = _object(raw, path)
        _only_fields(row, path, ("number", "kind", "registered_on", "title"))
        registered_on = _date(row, path, "registered_on", required=True)
        assert registered_on is not None
        registrations.append(
            IntellectualPropertyEvidence(
                number=_text(row, path, "number", required=True),
                kind=_text(row, path, "kind", required=False),
                registered_on=registered_on,
                title=_text(row, path, "title", required=False),
                ref=index,
            )
        )
    return Evidence(
        revenue=revenue,
        government_projects=projects,
        certifications=certifications,
        intellectual_property=registrations,
    )


def bonus_rules_describe(rules: Mapping[str, Any]) -> dict[str, str]:
    """The rule of each item in one Korean line, for the pages ("5건 이상 2점 · 3건 이상 1점 · 그 외 0점")."""
    reference, start, end = bonus_window(rules)
    revenue = _rule(rules, "revenue")
    tolerance = _decimal(
        revenue.get("maintained_tolerance_percent", 0), name="revenue.maintained_tolerance_percent"
    )
    points = revenue["points"]
    maintained = "같으면" if tolerance == 0 else f"±{tolerance}% 이내면"
    described = {
        REVENUE: (
            f"{revenue['current_year']}년 매출액을 {_year_span([int(y) for y in revenue['baseline_years']])} 평균과 비교: "
            f"많으면 증가 {points['increase']}점 · {maintained} 유지 {points['maintained']}점 · 적으면 감소 {points['decrease']}점"
            + (" (가결산 인정)" if revenue.get("accept_provisional") else "")
        )
    }
    for key, scope in (
        (GOVERNMENT_PROJECTS, f"평가기간({start}~{end})과 수행기간이 겹치는 서로 다른 과제"),
        (
            CERTIFICATIONS,
            f"기준일({reference})에 유효한 인정 목록의 서로 다른 인증"
            if rules["certifications"].get("must_be_valid_on_reference_date", True)
            else "인정 목록의 서로 다른 인증",
        ),
        (INTELLECTUAL_PROPERTY, f"평가기간({start}~{end}) 내 등록된 서로 다른 지식재산권"),
    ):
        thresholds, otherwise = _thresholds(rules, _RULE_KEYS[key])
        bands = [f"{minimum}건 이상 {_points_text(p)}" for minimum, p in thresholds]
        described[key] = f"{scope}: " + " · ".join([*bands, f"그 외 {_points_text(otherwise)}"])
    return described
