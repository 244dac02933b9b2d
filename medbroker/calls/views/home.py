"""The landing page: the open call and its deadline, the six steps of the process, the catalogue in figures,
and shortcuts for the signed-in user's roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Role
from medbroker.calls.selectors.calls import CallState, calls_summaries, catalogue_totals, process_steps


@dataclass(frozen=True)
class Shortcut:
    label: str
    description: str
    url: str


# (roles that see it, url name, label, description). A page whose app is not installed yet is left out.
SHORTCUTS: list[tuple[tuple[str, ...], str, Any, Any]] = [
    ((Role.APPLICANT,), "calls:consultation_list", _("내 수요 데이터 협의"), _("요청한 협의와 KTL의 답변")),
    ((Role.APPLICANT,), "calls:consultation_new", _("새 수요 데이터 협의"), _("필요한 데이터가 있는지 문의")),
    ((Role.APPLICANT,), "calls:application_list", _("내 지원 신청"), _("사업계획서 작성과 제출, 접수증")),
    ((Role.APPLICANT,), "outcomes:company_overview", _("지원 현황"), _("협약, 데이터·GPU 이용, 결과보고")),
    ((Role.APPLICANT,), "access:booking_list", _("학습실 예약"), _("폐쇄형 학습실 좌석 예약")),
    ((Role.APPLICANT,), "accounts:company", _("기업 정보"), _("사업자 정보와 담당자")),
    ((Role.OPERATOR, Role.AUDITOR), "calls:console", _("운영 콘솔"), _("공모별 신청 현황과 서류 확인")),
    ((Role.OPERATOR,), "calls:console_consultations", _("협의 답변"), _("답변을 기다리는 수요 데이터 협의")),
    (
        (Role.OPERATOR, Role.AUDITOR),
        "agreements:agreement_list",
        _("협약"),
        _("선정 기업과의 협약, 서명, 변경"),
    ),
    (
        (Role.OPERATOR, Role.AUDITOR),
        "outcomes:dashboard",
        _("사업 현황"),
        _("지원 기업, 데이터·GPU 사용, 학습실, 결과보고"),
    ),
    (
        (Role.AUDITOR,),
        "calls:console_consultations",
        _("수요 데이터 협의 현황"),
        _("모든 협의 열람(읽기 전용)"),
    ),
    ((Role.OPERATOR, Role.AUDITOR), "audit:event_list", _("감사 기록"), _("해시 체인으로 연결된 변경 기록")),
    (
        (Role.DATA_STEWARD,),
        "catalog:steward_dataset_list",
        _("기관 데이터셋"),
        _("보유 데이터셋의 공개와 주요 정보"),
    ),
]


def home_shortcuts(user: Any) -> list[Shortcut]:
    if not user.is_authenticated:
        return []
    shortcuts = []
    for roles, url_name, label, description in SHORTCUTS:
        if not user.has_role(*roles):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        shortcuts.append(Shortcut(label=str(label), description=str(description), url=url))
    return shortcuts


def home(request: HttpRequest) -> HttpResponse:
    summaries = calls_summaries()
    return render(
        request,
        "calls/home.html",
        {
            "current_calls": [summary for summary in summaries if summary.state != CallState.CLOSED],
            "past_calls": [summary for summary in summaries if summary.state == CallState.CLOSED][:3],
            "steps": process_steps(),
            "totals": catalogue_totals(),
            "shortcuts": home_shortcuts(request.user),
        },
    )
