"""The bell and the notices page: who may open what, order and paging, reading, and the header's count."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse

from medbroker.accounts.context_processors import notifications
from medbroker.accounts.models import Notification
from medbroker.accounts.views_notifications import PER_PAGE
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor")
SENT_AT = kst(2025, 7, 1, 9, 0)
READ_AT = kst(2025, 7, 2, 10, 0)


def _notice(user, *, title="협약서 서명 요청", link="/agreements/3/", kind="agreement_to_sign", **fields):
    return Notification.objects.create(user=user, kind=kind, title=title, link=link, **fields)


def _unread(user):
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def _login_redirect(path):
    return f"/accounts/login/?next={path}"


# ---------------------------------------------------------------------------------------------------------
# Permission matrix
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_notices_page_is_every_signed_in_users_own(role, client, login, users_by_role):
    user = users_by_role[role]
    if user is not None:
        _notice(user, title=f"{role}의 알림")
    login(client, user)
    url = reverse("accounts:notifications")

    response = client.get(url)

    if user is None:
        assert (response.status_code, response["Location"]) == (302, _login_redirect(url))
    else:
        assert response.status_code == 200
        assert f"{role}의 알림" in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_reading_all_marks_only_ones_own_notices(role, client, login, users_by_role, applicant):
    user = users_by_role[role]
    applicants_notice = _notice(applicant)
    own = _notice(user) if user is not None and user != applicant else None
    login(client, user)
    url = reverse("accounts:notification_read_all")

    response = client.post(url)

    if user is None:
        assert (response.status_code, response["Location"]) == (302, _login_redirect(url))
        assert _unread(applicant) == 1
        return
    assert (response.status_code, response["Location"]) == (302, reverse("accounts:notifications"))
    applicants_notice.refresh_from_db()
    assert (applicants_notice.read_at is not None) == (role == "applicant")
    if own is not None:
        own.refresh_from_db()
        assert own.read_at is not None


@pytest.mark.parametrize(
    ("role", "status", "location"),
    [
        ("anonymous", 302, "login"),
        ("applicant", 302, "/agreements/3/"),
        ("other_applicant", 404, None),
        ("reviewer", 404, None),
        ("steward", 404, None),
        ("operator", 404, None),
        ("auditor", 404, None),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_only_the_owner_opens_a_notice(
    role, status, location, method, client, login, users_by_role, applicant
):
    notice = _notice(applicant)
    login(client, users_by_role[role])
    url = reverse("accounts:notification_open", args=[notice.pk])

    response = getattr(client, method)(url)

    assert response.status_code == status
    if location == "login":
        assert response["Location"] == _login_redirect(url)
    elif location:
        assert response["Location"] == location
    notice.refresh_from_db()
    assert (notice.read_at is not None) == (role == "applicant")


def test_reading_all_is_a_post(client, login, applicant):
    _notice(applicant)
    login(client, applicant)

    response = client.get(reverse("accounts:notification_read_all"))

    assert response.status_code == 405
    assert _unread(applicant) == 1


# ---------------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------------


def test_notices_are_listed_newest_first_with_unread_ones_highlighted(
    client, login, applicant, other_applicant
):
    with time_machine.travel(SENT_AT, tick=False):
        _notice(applicant, title="협약서 서명 요청", kind="agreement_to_sign", read_at=READ_AT)
    with time_machine.travel(SENT_AT + dt.timedelta(days=1), tick=False):
        _notice(applicant, title="학습실 예약 확정", kind="booking_confirmed", link="")
        _notice(applicant, title="GPU 배정", kind="gpu_allocated", link="/compute/agreements/3/")
    _notice(other_applicant, title="다른 회사 알림")
    login(client, applicant)

    page = client.get(reverse("accounts:notifications")).content.decode()

    assert "다른 회사 알림" not in page
    positions = [page.index(title) for title in ("GPU 배정</a>", "학습실 예약 확정", "협약서 서명 요청</a>")]
    assert positions == sorted(positions)
    assert page.count('class="mb-notice is-unread"') == 2
    assert page.count('class="mb-notice"') == 1
    assert page.count("새 알림</span>") == 2
    assert "2025-07-02 10:00 읽음" in page
    assert "2025-07-02 09:00" in page
    assert "학습실 예약 확정" in page and "GPU 배정" in page and "협약 서명 요청" in page
    gpu = Notification.objects.get(title="GPU 배정")
    assert f'<a href="{reverse("accounts:notification_open", args=[gpu.pk])}">GPU 배정</a>' in page
    booking = Notification.objects.get(title="학습실 예약 확정")
    assert f'action="{reverse("accounts:notification_open", args=[booking.pk])}"' in page
    assert "모두 읽음" in page


def test_the_page_is_paged(client, login, applicant):
    with time_machine.travel(SENT_AT, tick=False):
        for number in range(1, PER_PAGE + 2):
            _notice(applicant, title=f"알림 {number:02d}번")
    login(client, applicant)

    first = client.get(reverse("accounts:notifications")).content.decode()
    second = client.get(reverse("accounts:notifications") + "?page=2").content.decode()

    # Sent in the same instant: the one sent last is still first.
    assert f"알림 {PER_PAGE + 1:02d}번" in first
    assert "알림 01번" not in first
    assert "알림 01번" in second
    assert second.count('class="mb-notice is-unread"') == 1
    assert f"전체 {PER_PAGE + 1}건 중 {PER_PAGE + 1}–{PER_PAGE + 1}" in second


def test_the_unread_view_leaves_read_notices_out(client, login, applicant):
    _notice(applicant, title="지난주 알림", read_at=READ_AT)
    _notice(applicant, title="오늘 알림")
    login(client, applicant)

    page = client.get(reverse("accounts:notifications") + "?unread=1").content.decode()

    assert "오늘 알림" in page
    assert "지난주 알림" not in page


def test_an_empty_page_says_so_and_offers_no_read_all(client, login, applicant):
    login(client, applicant)

    page = client.get(reverse("accounts:notifications")).content.decode()

    assert "받은 알림이 없습니다." in page
    assert "모두 읽음" not in page


def test_read_all_marks_every_unread_notice_and_says_how_many(client, login, applicant):
    _notice(applicant)
    _notice(applicant, title="두 번째")
    _notice(applicant, title="이미 읽음", read_at=READ_AT)
    login(client, applicant)

    with time_machine.travel(SENT_AT, tick=False):
        page = client.post(reverse("accounts:notification_read_all"), follow=True).content.decode()

    assert "알림 2건을 읽음으로 표시했습니다." in page
    assert set(Notification.objects.values_list("read_at", flat=True)) == {SENT_AT, READ_AT}


def test_opening_a_notice_without_a_link_returns_to_the_page(client, login, applicant):
    notice = _notice(applicant, link="")
    login(client, applicant)

    response = client.post(reverse("accounts:notification_open", args=[notice.pk]))

    assert response["Location"] == reverse("accounts:notifications")
    notice.refresh_from_db()
    assert notice.read_at is not None


@pytest.mark.parametrize(
    "link", ["https://evil.example/phish", "//evil.example/phish", "javascript:alert(1)"]
)
def test_a_link_off_the_site_is_not_followed(link, client, login, applicant):
    notice = _notice(applicant, link=link)
    login(client, applicant)

    response = client.get(reverse("accounts:notification_open", args=[notice.pk]))

    assert response["Location"] == reverse("accounts:notifications")


def test_an_unknown_notice_is_404(client, login, applicant):
    login(client, applicant)

    assert client.get(reverse("accounts:notification_open", args=[999])).status_code == 404


# ---------------------------------------------------------------------------------------------------------
# The bell
# ---------------------------------------------------------------------------------------------------------


def test_the_bell_shows_the_unread_count(client, login, applicant, other_applicant):
    _notice(applicant)
    _notice(applicant, title="두 번째")
    _notice(applicant, title="읽음", read_at=READ_AT)
    _notice(other_applicant)
    login(client, applicant)

    page = client.get(reverse("home")).content.decode()

    assert f'<a class="mb-bell has-unread" href="{reverse("accounts:notifications")}">' in page
    assert '<span class="mb-bell-count" aria-hidden="true">2</span>' in page
    assert "알림, 읽지 않은 알림 2건" in page


def test_the_bell_caps_its_badge(client, login, applicant):
    Notification.objects.bulk_create(
        Notification(user=applicant, kind="report_due", title=f"알림 {n}") for n in range(100)
    )
    login(client, applicant)

    page = client.get(reverse("home")).content.decode()

    assert '<span class="mb-bell-count" aria-hidden="true">99+</span>' in page
    assert "알림, 읽지 않은 알림 100건" in page


def test_the_bell_without_unread_notices_shows_no_count(client, login, applicant):
    login(client, applicant)

    page = client.get(reverse("home")).content.decode()

    assert f'<a class="mb-bell" href="{reverse("accounts:notifications")}">' in page
    assert 'class="mb-bell-count"' not in page
    assert "알림, 읽지 않은 알림 없음" in page


def test_anonymous_visitors_have_no_bell(client):
    page = client.get(reverse("home")).content.decode()

    assert 'class="mb-bell' not in page
    assert reverse("accounts:notifications") not in page


def test_the_count_is_one_query_and_only_when_shown(applicant, django_assert_num_queries):
    _notice(applicant)
    request = RequestFactory().get("/")
    request.user = applicant

    with django_assert_num_queries(0):
        context = notifications(request)
    with django_assert_num_queries(1) as captured:
        counts = (context["unread_notifications"].count, context["unread_notifications"].badge)

    assert counts == (1, "1")
    assert "COUNT(" in captured.captured_queries[0]["sql"].upper()


def test_the_context_has_nothing_for_anonymous_users(django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()

    with django_assert_num_queries(0):
        assert notifications(request) == {}
