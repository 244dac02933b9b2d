"""The demo leaves the 2025 committee mid-run: an operator can take it from there to decisions."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.calls.models import Application
from medbroker.reviews.models import Committee, Conflict, EvidenceVerification, ScoreSheet

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(capsys: pytest.CaptureFixture[str]) -> Committee:
    call_command("demo")
    capsys.readouterr()
    return Committee.objects.get(call__slug="khealth-daegu-2025")


def test_the_2025_intake_records_and_the_committee(demo: Committee) -> None:
    receipts = list(
        Application.objects.filter(call=demo.call)
        .order_by("receipt_number")
        .values_list("receipt_number", flat=True)
    )
    assert receipts == [f"KHD2025-{n:04d}" for n in range(1, 7)]
    assert [m.user.username for m in demo.members.order_by("user__username")] == [
        "reviewer",
        "reviewer2",
        "reviewer3",
        "reviewer4",
        "reviewer5",
    ]
    assert demo.members.get(is_chair=True).user.username == "reviewer"
    conflicts = sorted(
        (c.kind, c.status, c.member.user.username, c.application.company.name) for c in Conflict.objects.all()
    )
    assert conflicts == [
        ("challenge", "pending", "reviewer2", "뉴로웨이브 주식회사"),
        ("exclusion", "upheld", "reviewer4", "헬스로직 주식회사"),
        ("exclusion", "upheld", "reviewer5", "메디비전랩 주식회사"),
        ("recusal", "upheld", "reviewer3", "대구AI메드 주식회사"),
    ]
    sheets = ScoreSheet.objects.filter(assignment__member__committee=demo)
    assert (sheets.filter(status="submitted").count(), sheets.filter(status="draft").count()) == (25, 1)
    assert EvidenceVerification.objects.filter(status="rejected").count() == 1


def test_a_second_run_changes_nothing(demo: Committee, capsys: pytest.CaptureFixture[str]) -> None:
    counts = (Application.objects.count(), Conflict.objects.count(), ScoreSheet.objects.count())

    call_command("demo")
    capsys.readouterr()

    assert (Application.objects.count(), Conflict.objects.count(), ScoreSheet.objects.count()) == counts


def test_the_excluded_reviewer_never_sees_the_application(demo: Committee, client) -> None:
    client.force_login(User.objects.get(username="reviewer4"))

    page = client.get(reverse("reviews:reviewer_queue")).content.decode()

    # (The header names the reviewer's own organisation, 헬스로직; the application must not appear.)
    assert "위 내시경 조기위암 실시간 검출 AI" in page
    assert "유방 촬영술 병변 분류 보조 AI" not in page
    assert "KHD2025-0002" not in page


def test_the_chair_finds_the_ranking_from_the_queue(demo: Committee, client) -> None:
    client.force_login(User.objects.get(username="reviewer"))

    page = client.get(reverse("reviews:reviewer_queue")).content.decode()

    assert reverse("reviews:ranking", args=[demo.pk]) in page
    assert client.get(reverse("reviews:ranking", args=[demo.pk])).status_code == 200


def test_the_demo_panel_has_one_outlier_reviewer_for_the_chair(demo: Committee) -> None:
    from medbroker.reviews.selectors.ranking import reviewer_statistics_for_committee

    flagged = [stat for stat in reviewer_statistics_for_committee(demo) if stat.is_outlier]

    assert [str(stat.reviewer) for stat in flagged] == ["최산업"]
