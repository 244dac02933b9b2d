"""The auditor's filters: KST dates with both ends included, actor, app, action, object type, free text."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from medbroker.accounts.tests.factories import UserFactory
from medbroker.audit.selectors import AuditEventFilter, audit_events_filtered, audit_events_search
from medbroker.audit.tests.scene import event_at, five_events
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

JULY_1 = dt.date(2025, 7, 1)
JULY_2 = dt.date(2025, 7, 2)


@pytest.fixture
def events(operator, applicant, auditor):
    return five_events(operator=operator, applicant=applicant, auditor=auditor)


def _sequences(**filters):
    return list(
        audit_events_filtered(AuditEventFilter(**filters))
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        # 23:59:59 on 30 June is outside, 00:00:00 on 1 July inside, 00:00:00 on 2 July outside.
        ({"date_from": JULY_1, "date_to": JULY_1}, [2, 3]),
        ({"date_from": JULY_1}, [2, 3, 4, 5]),
        ({"date_to": dt.date(2025, 6, 30)}, [1]),
        ({"date_from": JULY_2, "date_to": JULY_2}, [4, 5]),
        ({"actor": "operator"}, [1, 2]),
        ({"actor": "applicant"}, [3]),
        ({"actor": "oper"}, []),
        ({"actor": "system"}, [4]),
        ({"app": "access"}, [2, 3, 4]),
        ({"app": "acc"}, []),
        ({"app": "compute"}, [5]),
        ({"action": "access.grant_revoked"}, [2]),
        ({"object_type": "access.accessgrant"}, [2, 4]),
        ({"query": "보안"}, [2]),
        ({"query": "V100"}, [5]),
        ({"query": "grant 7"}, [2]),
        ({"query": "APPLICANT"}, [3]),
        ({"app": "access", "date_from": JULY_1, "date_to": JULY_1}, [2, 3]),
        ({"app": "access", "actor": "system"}, [4]),
        ({"app": "access", "object_type": "access.accessgrant", "date_to": JULY_1}, [2]),
        ({"actor": "operator", "app": "access", "query": "grant"}, [2]),
        ({"actor": "operator", "app": "compute"}, []),
    ],
)
def test_filters_select_exactly(filters, expected, events):
    assert _sequences(**filters) == expected


def test_a_removed_account_is_still_found_by_its_username(events):
    leaving = UserFactory(username="leaving")
    event_at(kst(2025, 7, 3, 10), action="calls.application_submitted", actor=leaving, summary="submitted")
    leaving.delete()

    assert _sequences(actor="leaving") == [6]


def test_a_user_named_like_a_prefix_of_another_is_not_mixed_up(events):
    UserFactory(username="operator2")
    event_at(kst(2025, 7, 3, 10), action="calls.call_published", actor=UserFactory(username="operator_b"))

    assert _sequences(actor="operator") == [1, 2]


def test_the_search_keeps_its_earlier_keywords(events):
    assert list(
        audit_events_search(query="grant", action="access.grant_expired").values_list("sequence", flat=True)
    ) == [4]


def test_a_snapshot_leaves_out_later_events(events):
    assert list(
        audit_events_filtered(AuditEventFilter(), up_to_sequence=3)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    ) == [1, 2, 3]


def test_set_filters_are_described_as_text():
    filters = AuditEventFilter(date_from=JULY_1, actor="operator", app="access")

    assert filters.as_data() == {"date_from": "2025-07-01", "actor": "operator", "app": "access"}


# ---------------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------------


def _listed(page: str, events) -> list[int]:
    return [e.sequence for e in events if f"<td>{e.summary}</td>" in page]


def test_the_page_lists_exactly_the_filtered_events(client, login, auditor, events):
    login(client, auditor)

    response = client.get(
        reverse("audit:event_list"),
        {"date_from": "2025-07-01", "date_to": "2025-07-02", "app": "access", "actor": "", "q": ""},
    )
    page = response.content.decode()

    assert response.status_code == 200
    assert _listed(page, events) == [2, 3, 4]
    assert "조건에 맞는 기록 3건" in page
    assert '<option value="access" selected>access</option>' in page
    assert '<option value="compute.gpu_allocated">compute.gpu_allocated</option>' in page
    assert '<option value="access.closedroombooking">access.closedroombooking</option>' in page


def test_the_export_links_carry_the_filters_but_not_paging_or_sorting(client, login, auditor, events):
    login(client, auditor)

    page = client.get(
        reverse("audit:event_list"), {"app": "access", "actor": "operator", "sort": "action", "page": "1"}
    ).content.decode()

    assert f'href="{reverse("audit:event_export_xlsx")}?app=access&amp;actor=operator"' in page
    assert f'href="{reverse("audit:event_export_csv")}?app=access&amp;actor=operator"' in page


def test_an_end_date_before_the_start_is_refused_and_the_other_filters_still_apply(
    client, login, auditor, events
):
    login(client, auditor)

    page = client.get(
        reverse("audit:event_list"), {"date_from": "2025-07-02", "date_to": "2025-07-01", "app": "access"}
    ).content.decode()

    assert "종료일은 시작일과 같거나 뒤여야 합니다." in page
    assert _listed(page, events) == [4]
    assert "Excel 내려받기" not in page


def test_a_malformed_date_is_named_and_nothing_is_exported(client, login, auditor, events):
    login(client, auditor)

    page = client.get(reverse("audit:event_list"), {"date_from": "2025-13-01"}).content.decode()

    assert '<p class="form-hint-invalid" role="alert">올바른 날짜를 입력하세요.</p>' in page
    assert _listed(page, events) == [1, 2, 3, 4, 5]
    assert "CSV 내려받기" not in page
