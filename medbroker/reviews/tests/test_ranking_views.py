"""The ranking page (table, cut-off line, tie notes, chart data, reviewer statistics), the chair's read-only
view, the decision form and the export downloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.core.timeutils import kst
from medbroker.reviews.models import Conflict, Decision
from medbroker.reviews.tests.factories import committee_2025
from medbroker.reviews.tests.factories_ranking import ScoredCommittee, close, scored_committee

D = Decimal
pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with time_machine.travel(kst(2025, 8, 20, 14, 0, 0), tick=False):
        yield


@pytest.fixture
def scored(operator: User) -> ScoredCommittee:
    """Three reviewers; r3 is far below the panel. 가나의료 and 다라헬스 tie at 70.00 (technical merit decides),
    마바바이오 is below the cut-off."""
    committee = committee_2025(
        tie_breaks=["item_mean:technical_merit", "untrimmed_total"], outlier_threshold=D("10")
    )
    return scored_committee(
        committee,
        operator=operator,
        totals={"가나의료": [80, 80, 50], "다라헬스": [80, 80, 50], "마바바이오": [60, 62, 35]},
        technical_merit={"가나의료": ["28", "28", "20"], "다라헬스": ["24", "24", "20"]},
    )


def test_operator_sees_the_ranking_with_cut_off_line_tie_notes_chart_and_statistics(
    scored: ScoredCommittee, operator: User, login: Login
) -> None:
    response = login(Client(), operator).get(reverse("reviews:ranking", args=[scored.committee.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    lines = response.context["lines"]
    assert [
        (line["row"].subject.company.name, line["row"].rank, line["row"].final_score, line["first_below"])
        for line in lines
    ] == [
        ("가나의료", 1, D("70.00"), False),
        ("다라헬스", 2, D("70.00"), False),
        ("마바바이오", 3, D("52.33"), True),
    ]
    assert "동점: 사업내용의 기술성 항목 평균 25.33" in html
    assert "동점: 사업내용의 기술성 항목 평균 22.67" in html
    # The cut-off line sits between the last passing row and the first row below it.
    cutoff_line = html.index("선정 기준 점수 60.00점 (서면평가 점수(우대사항 제외)) — 이 아래는 기준 미달")
    assert html.index("다라헬스") < cutoff_line < html.index("마바바이오")
    assert response.context["chart"] == {
        "labels": [a.receipt_number for a in scored.applications.values()],
        "companies": ["가나의료", "다라헬스", "마바바이오"],
        "review": [70.0, 70.0, 52.33],
        "bonus": [0.0, 0.0, 0.0],
        "passing": [True, True, False],
        "cutoff": 60.0,
        "review_label": "서면평가 점수",
        "bonus_label": "우대사항 점수",
        "cutoff_label": "선정 기준 점수",
    }
    assert 'id="ranking-chart-data"' in html
    assert "/static/vendor/chartjs/chart.umd.min.js" in html
    assert [
        (s.reviewer.user.display_name, s.mean_total, s.mean_deviation, s.is_outlier)
        for s in response.context["statistics"]
    ] == [
        ("김하늘", D("73.33"), D("9.22"), False),
        ("이도윤", D("74.00"), D("9.89"), False),
        ("박서준", D("45.00"), D("-19.11"), True),
    ]
    assert html.count('class="rv-outlier"') == 1
    # Open committee: exports are there, decisions and publication are not yet.
    for name in ("export_ranking", "export_sheets", "minutes_pdf"):
        assert reverse(f"reviews:{name}", args=[scored.committee.pk]) in html
    assert reverse("reviews:decisions_publish", args=[scored.committee.pk]) not in html


def test_after_closing_the_operator_gets_decision_links_and_the_publish_button(
    scored: ScoredCommittee, operator: User, login: Login
) -> None:
    close(scored.committee, operator)

    html = (
        login(Client(), operator).get(reverse("reviews:ranking", args=[scored.committee.pk])).content.decode()
    )

    for application in scored.applications.values():
        assert reverse("reviews:decision_edit", args=[scored.committee.pk, application.pk]) in html
    assert reverse("reviews:decisions_publish", args=[scored.committee.pk]) in html
    assert "결과를 정하지 않은 신청이 3건 있습니다." in html


def test_auditor_reads_without_buttons(
    scored: ScoredCommittee, operator: User, auditor: User, login: Login
) -> None:
    close(scored.committee, operator)

    html = (
        login(Client(), auditor).get(reverse("reviews:ranking", args=[scored.committee.pk])).content.decode()
    )

    assert reverse("reviews:decisions_publish", args=[scored.committee.pk]) not in html
    assert "/decisions/" not in html
    assert reverse("reviews:export_ranking", args=[scored.committee.pk]) in html


def test_chair_reads_the_ranking_without_buttons_and_without_their_conflicts(
    scored: ScoredCommittee, login: Login
) -> None:
    chair = scored.members[0]
    Conflict.objects.create(
        member=chair, application=scored.applications["마바바이오"], kind=Conflict.Kind.RECUSAL, reason="자문"
    )

    response = login(Client(), chair.user).get(reverse("reviews:ranking", args=[scored.committee.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "마바바이오" not in html
    assert scored.applications["마바바이오"].receipt_number not in html
    assert "이해충돌로 신청 1건은 표시하지 않습니다." in html
    assert [line["row"].subject.company.name for line in response.context["lines"]] == [
        "가나의료",
        "다라헬스",
    ]
    assert "/exports/" not in html
    assert "/decisions/" not in html
    # Statistics without 마바바이오: r3 gave 50 and 50 where the panel gave 70 and 70.
    assert [
        (s.reviewer.user.display_name, s.n, s.mean_deviation, s.is_outlier)
        for s in response.context["statistics"]
    ] == [
        ("김하늘", 2, D("10.00"), False),
        ("이도윤", 2, D("10.00"), False),
        ("박서준", 2, D("-20.00"), True),
    ]


def test_decision_form_shows_the_service_refusal_next_to_the_field(
    scored: ScoredCommittee, operator: User, login: Login
) -> None:
    close(scored.committee, operator)
    application = scored.applications["가나의료"]
    url = reverse("reviews:decision_edit", args=[scored.committee.pk, application.pk])
    client = login(Client(), operator)

    page = client.get(url)
    refused = client.post(
        url, {"outcome": "selected", "granted_compute_code": "h100-80", "support_starts_on": "2025-09-01"}
    )

    assert page.status_code == 200
    assert refused.status_code == 400
    assert refused.context["form"].errors == {
        "granted_compute_code": ["이 공모의 GPU 규격이 아닙니다: h100-80"]
    }
    assert Decision.objects.count() == 0


def test_decision_form_saves_and_returns_to_the_ranking(
    scored: ScoredCommittee, operator: User, login: Login
) -> None:
    close(scored.committee, operator)
    application = scored.applications["가나의료"]
    url = reverse("reviews:decision_edit", args=[scored.committee.pk, application.pk])

    response = login(Client(), operator).post(
        url, {"outcome": "selected", "granted_compute_code": "v100-32", "support_starts_on": "2025-09-01"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("reviews:ranking", args=[scored.committee.pk])
    decision = Decision.objects.get(application=application)
    assert (
        decision.outcome,
        decision.granted_compute.code,
        str(decision.support_ends_on),
        decision.rank,
    ) == (
        "selected",
        "v100-32",
        "2025-11-28",
        1,
    )


def test_publish_with_undecided_applications_says_which(
    scored: ScoredCommittee, operator: User, login: Login
) -> None:
    close(scored.committee, operator)

    response = login(Client(), operator).post(
        reverse("reviews:decisions_publish", args=[scored.committee.pk]), follow=True
    )

    receipts = ", ".join(a.receipt_number for a in scored.applications.values())
    assert [str(m) for m in response.context["messages"]] == [
        f"선정 결과가 정해지지 않은 신청서가 있습니다: {receipts}"
    ]


def test_exports_download_with_names_and_no_caching(
    scored: ScoredCommittee, auditor: User, login: Login
) -> None:
    client = login(Client(), auditor)
    pk = scored.committee.pk

    sheets = client.get(reverse("reviews:export_sheets", args=[pk]))
    ranking = client.get(reverse("reviews:export_ranking", args=[pk]))
    minutes = client.get(reverse("reviews:minutes_pdf", args=[pk]))

    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert (sheets["Content-Type"], sheets["Content-Disposition"], sheets["Cache-Control"]) == (
        xlsx,
        'attachment; filename="score-sheets-khealth-daegu-2025-20250820-1400.xlsx"',
        "private, no-store",
    )
    assert (ranking["Content-Type"], ranking["Content-Disposition"]) == (
        xlsx,
        'attachment; filename="ranking-khealth-daegu-2025-20250820-1400.xlsx"',
    )
    assert (minutes["Content-Type"], minutes["Content-Disposition"]) == (
        "application/pdf",
        'inline; filename="minutes-khealth-daegu-2025-20250820-1400.pdf"',
    )
    assert sheets.content.startswith(b"PK") and ranking.content.startswith(b"PK")
    assert minutes.content.startswith(b"%PDF-")
