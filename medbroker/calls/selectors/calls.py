"""Reads of calls for the public pages and the home page: state of the intake window, rubric, bonus table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from medbroker.calls.models import Call, Certification, RubricItem
from medbroker.catalog.models import Dataset, DataType, Modality
from medbroker.core import timeutils


class CallState:
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


def call_state(call: Call, *, when: dt.datetime) -> str:
    # The window is half-open, as the submission service enforces it: closed from 16:00:00 KST on.
    if when < call.intake_opens_at:
        return CallState.UPCOMING
    if call.is_open_at(when):
        return CallState.OPEN
    return CallState.CLOSED


def call_state_label(state: str) -> str:
    return {
        CallState.UPCOMING: _("접수 예정"),
        CallState.OPEN: _("접수 중"),
        CallState.CLOSED: _("접수 마감"),
    }[state]


@dataclass(frozen=True)
class CallSummary:
    call: Call
    state: str
    state_label: str
    opens_at_kst: dt.datetime
    closes_at_kst: dt.datetime
    days_left: int | None  # whole days to the deadline while open, else None

    @property
    def is_open(self) -> bool:
        return self.state == CallState.OPEN


def call_summary(call: Call, *, when: dt.datetime) -> CallSummary:
    state = call_state(call, when=when)
    days_left = (call.intake_closes_at - when).days if state == CallState.OPEN else None
    return CallSummary(
        call=call,
        state=state,
        state_label=call_state_label(state),
        opens_at_kst=timeutils.to_kst(call.intake_opens_at),
        closes_at_kst=timeutils.to_kst(call.intake_closes_at),
        days_left=days_left,
    )


def calls_public() -> QuerySet[Call]:
    return Call.objects.filter(is_published=True)


def calls_summaries(*, when: dt.datetime | None = None) -> list[CallSummary]:
    """Published calls for the call list: open ones first (closing soonest first), then upcoming, then closed."""
    when = when or timeutils.now()
    summaries = [call_summary(call, when=when) for call in calls_public()]
    rank = {CallState.OPEN: 0, CallState.UPCOMING: 1, CallState.CLOSED: 2}

    def key(summary: CallSummary) -> tuple[int, float]:
        closes = summary.call.intake_closes_at.timestamp()
        # Closed calls: the most recent first.
        return rank[summary.state], (-closes if summary.state == CallState.CLOSED else closes)

    return sorted(summaries, key=key)


def calls_open(*, when: dt.datetime | None = None) -> list[Call]:
    """Calls open for intake at ``when``: a real call before a practice call, then by the nearest deadline."""
    when = when or timeutils.now()
    calls = calls_public().filter(intake_opens_at__lte=when, intake_closes_at__gt=when)
    return sorted(calls, key=lambda call: (call.is_practice, call.intake_closes_at))


def call_default_for_consultation(*, when: dt.datetime | None = None) -> Call | None:
    """The call a new consultation is for unless the company picks another: the open one, else the next one."""
    when = when or timeutils.now()
    open_calls = calls_open(when=when)
    if open_calls:
        return open_calls[0]
    return calls_public().filter(intake_opens_at__gt=when).order_by("intake_opens_at").first()


def calls_accepting_consultations(*, when: dt.datetime | None = None) -> QuerySet[Call]:
    """Calls a company may still ask about: open or upcoming (a consultation prepares an application)."""
    when = when or timeutils.now()
    return calls_public().filter(intake_closes_at__gt=when).order_by("is_practice", "intake_closes_at")


def call_get_public(*, slug: str) -> Call:
    try:
        return calls_public().get(slug=slug)
    except Call.DoesNotExist:
        raise Http404(_("공모를 찾을 수 없습니다.")) from None


# ---------------------------------------------------------------------------------------------------------
# The review rubric and bonus table, laid out as the announcement prints them
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RubricRow:
    item: RubricItem
    area_rowspan: int  # > 0 only on the first row of an area
    area_points: int
    item_rowspan: int  # > 0 only on the first row of an evaluation item


@dataclass(frozen=True)
class BonusColumn:
    label: str
    points: int


@dataclass(frozen=True)
class BonusRow:
    group: str
    group_label: str
    group_cap: int
    group_rowspan: int  # > 0 only on the first row of a group
    item: str
    rule: str
    columns: list[BonusColumn]


@dataclass(frozen=True)
class RubricTable:
    rows: list[RubricRow]
    areas: list[tuple[str, int]]
    total: int
    bonus_caps: list[tuple[str, int]]
    bonus_total: int
    grand_total: int
    bonus_rows: list[BonusRow]


def _spans(values: list[str]) -> list[int]:
    spans = [0] * len(values)
    index = 0
    for _value, group in groupby(values):
        size = len(list(group))
        spans[index] = size
        index += size
    return spans


def _group_label(group: str) -> str:
    labels = {"objective": _("객관지표"), "technology": _("기술·인증")}
    return labels.get(group, group)


def _threshold_columns(rule: dict[str, Any]) -> list[BonusColumn]:
    thresholds = [(int(count), int(points)) for count, points in rule.get("thresholds", [])]
    columns = [BonusColumn(_("%(count)d건 이상") % {"count": count}, points) for count, points in thresholds]
    if thresholds:
        columns.append(
            BonusColumn(_("%(count)d건 미만") % {"count": thresholds[-1][0]}, int(rule.get("otherwise", 0)))
        )
    return columns


def bonus_rows_build(bonus_rules: dict[str, Any]) -> list[BonusRow]:
    """The bonus point table (우대사항점수표) from the call's bonus rules, in the announcement's order."""
    caps = bonus_rules.get("caps", {})
    rows: list[tuple[str, str, str, list[BonusColumn]]] = []
    revenue = bonus_rules.get("revenue")
    if revenue:
        years = revenue.get("baseline_years", [])
        current = revenue.get("current_year")
        rule = _("'%(first)02d~'%(last)02d년도 평균 매출액 대비 '%(current)02d년도 매출액") % {
            "first": years[0] % 100 if years else 0,
            "last": years[-1] % 100 if years else 0,
            "current": (current or 0) % 100,
        }
        if revenue.get("accept_provisional"):
            rule += " " + _("(재무제표 발행 전이면 가결산재무제표)")
        tolerance = revenue.get("maintained_tolerance_percent", 0)
        if tolerance:
            rule += " " + _("· 유지: ±%(tolerance)s%% 이내") % {"tolerance": tolerance}
        points = revenue.get("points", {})
        rows.append(
            (
                revenue.get("group", "objective"),
                _("매출액 증감"),
                rule,
                [
                    BonusColumn(_("증가"), int(points.get("increase", 0))),
                    BonusColumn(_("유지"), int(points.get("maintained", 0))),
                    BonusColumn(_("감소"), int(points.get("decrease", 0))),
                ],
            )
        )
    window = bonus_rules.get("window_years", 3)
    specs = [
        ("projects", _("정부과제 및 자체기술개발 수행"), _("최근 %(years)d년간, 동일 과제 내용 제외")),
        ("certifications", _("기술 및 품질 인증"), _("인정 인증 목록 기준")),
        ("intellectual_property", _("지식재산권"), _("최근 %(years)d년")),
    ]
    for key, item, rule_text in specs:
        spec: dict[str, Any] | None = bonus_rules.get(key)
        if not spec:
            continue
        text = rule_text % {"years": window} if "%(years)d" in rule_text else rule_text
        if key == "certifications" and spec.get("must_be_valid_on_reference_date"):
            text += " " + _("(기준일 %(date)s 현재 유효한 인증)") % {
                "date": bonus_rules.get("reference_date", "")
            }
        rows.append((spec.get("group", "objective"), item, text, _threshold_columns(spec)))
    groups = [group for group, *_rest in rows]
    spans = _spans(groups)
    return [
        BonusRow(
            group=group,
            group_label=_group_label(group),
            group_cap=int(caps.get(group, 0)),
            group_rowspan=span,
            item=item,
            rule=rule,
            columns=columns,
        )
        for (group, item, rule, columns), span in zip(rows, spans, strict=True)
    ]


def call_rubric_table(call: Call) -> RubricTable:
    """The document-review rubric with area subtotals (15 / 55 / 30 for 2025), total, bonus caps, grand total."""
    items = list(call.rubric_items.all())
    area_spans = _spans([item.area for item in items])
    item_spans = _spans([f"{item.area}\x00{item.item}" for item in items])
    area_points: dict[str, int] = {}
    for item in items:
        area_points[item.area] = area_points.get(item.area, 0) + item.max_points
    rows = [
        RubricRow(item=item, area_rowspan=a, area_points=area_points[item.area], item_rowspan=i)
        for item, a, i in zip(items, area_spans, item_spans, strict=True)
    ]
    total = sum(area_points.values())
    caps = call.bonus_rules.get("caps", {})
    bonus_caps = [(_group_label(group), int(cap)) for group, cap in caps.items() if group != "total"]
    bonus_total = int(caps.get("total", sum(cap for _label, cap in bonus_caps)))
    return RubricTable(
        rows=rows,
        areas=list(area_points.items()),
        total=total,
        bonus_caps=bonus_caps,
        bonus_total=bonus_total,
        grand_total=total + bonus_total,
        bonus_rows=bonus_rows_build(call.bonus_rules),
    )


def certifications_by_category(call: Call) -> list[tuple[str, list[Certification]]]:
    """Certifications grouped by category, in the order the announcement lists the categories."""
    certifications: Iterable[Certification] = call.certifications.order_by("pk")
    grouped: dict[str, list[Certification]] = {}
    for certification in certifications:
        grouped.setdefault(certification.category, []).append(certification)
    return [(category, sorted(items, key=lambda c: c.number)) for category, items in grouped.items()]


# ---------------------------------------------------------------------------------------------------------
# Catalogue totals for the home page
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueTotals:
    datasets: int
    institutions: int
    imaging_cases: int
    time_series_cases: int
    imaging_modalities: list[str]
    time_series_modalities: list[str]


def catalogue_totals() -> CatalogueTotals:
    """Published datasets only: what a company can actually ask for."""
    published = Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED)
    totals = published.aggregate(
        datasets=Count("pk"),
        institutions=Count("institution", distinct=True),
        imaging=Sum("total_count", filter=Q(data_type=DataType.IMAGING)),
        time_series=Sum("total_count", filter=Q(data_type=DataType.TIME_SERIES)),
    )
    modalities: dict[str, list[str]] = {DataType.IMAGING: [], DataType.TIME_SERIES: []}
    for modality in Modality.objects.filter(pk__in=published.values("modality_id")).order_by("order", "name"):
        modalities.setdefault(modality.data_type, []).append(modality.label)
    return CatalogueTotals(
        datasets=totals["datasets"],
        institutions=totals["institutions"],
        imaging_cases=totals["imaging"] or 0,
        time_series_cases=totals["time_series"] or 0,
        imaging_modalities=modalities[DataType.IMAGING],
        time_series_modalities=modalities[DataType.TIME_SERIES],
    )


# ---------------------------------------------------------------------------------------------------------
# The six steps of the process (announcement "지원 방법")
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessStep:
    number: int
    symbol: str
    title: str
    description: str
    live: bool  # the platform runs this step already
    url: str


# (symbol, title, description, the app that runs the step, the page a user starts it from)
_STEPS: list[tuple[str, Any, Any, str, str]] = [
    (
        "①",
        _lazy("수요 데이터 협의"),
        _lazy("활용하려는 데이터가 KTL DB에 있는지 확인합니다."),
        "medbroker.calls",
        "catalog:dataset_list",
    ),
    (
        "②",
        _lazy("사업계획서 제출"),
        _lazy("사업계획서와 제출 서류를 온라인으로 제출합니다."),
        "medbroker.calls",
        "calls:application_list",
    ),
    (
        "③",
        _lazy("검토위원회 선정"),
        _lazy("검토위원회가 심의하여 지원 대상과 지원규모를 정합니다."),
        "medbroker.reviews",
        "",
    ),
    ("④", _lazy("협약"), _lazy("KTL과 선정 기업이 협약을 체결합니다."), "medbroker.agreements", ""),
    (
        "⑤",
        _lazy("데이터·컴퓨팅 자원 활용"),
        _lazy("폐쇄학습실 또는 승인된 온라인 환경에서 데이터와 GPU를 활용합니다."),
        "medbroker.compute",
        "",
    ),
    (
        "⑥",
        _lazy("성과보고서"),
        _lazy("데이터·컴퓨팅 자원 활용 성과보고서를 제출합니다."),
        "medbroker.outcomes",
        "",
    ),
]


def process_steps() -> list[ProcessStep]:
    """The steps, marked live when the app that runs them is installed, so the page follows the platform."""
    steps = []
    for number, (symbol, title, description, app, url_name) in enumerate(_STEPS, start=1):
        url = ""
        if url_name:
            try:
                url = reverse(url_name)
            except NoReverseMatch:
                url = ""
        steps.append(
            ProcessStep(
                number=number,
                symbol=symbol,
                title=str(title),
                description=str(description),
                live=apps.is_installed(app),
                url=url,
            )
        )
    return steps
