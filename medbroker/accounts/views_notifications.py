"""The notices page behind the header's bell: every signed-in user reads and clears only their own notices."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medbroker.accounts.models import Notification, User
from medbroker.accounts.services.notifications import notification_mark_read
from medbroker.core.tables import table_build

# The kinds the domain apps send (agreements, access, compute, outcomes); an unknown kind shows no label.
KIND_LABELS = {
    "agreement_to_sign": gettext_lazy("협약 서명 요청"),
    "agreement_signed": gettext_lazy("협약 체결"),
    "grant_started": gettext_lazy("데이터 이용 시작"),
    "grant_expiring": gettext_lazy("데이터 이용 종료 예정"),
    "grant_expired": gettext_lazy("데이터 이용 종료"),
    "grant_revoked": gettext_lazy("데이터 이용 권한 회수"),
    "booking_confirmed": gettext_lazy("학습실 예약 확정"),
    "booking_cancelled": gettext_lazy("학습실 예약 취소"),
    "gpu_allocated": gettext_lazy("GPU 배정"),
    "gpu_offered": gettext_lazy("GPU 배정 제안"),
    "report_due": gettext_lazy("결과보고 기한"),
    "report_returned": gettext_lazy("결과보고 보완 요청"),
    "report_accepted": gettext_lazy("결과보고 승인"),
    "test_request_updated": gettext_lazy("성능시험 요청 처리"),
}
PER_PAGE = 20


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@require_GET
@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    unread_only = request.GET.get("unread") == "1"
    notices = Notification.objects.filter(user=user)
    if unread_only:
        notices = notices.filter(read_at__isnull=True)
    # Newest first; notices sent in the same instant keep the order they were sent in (newest pk first).
    table = table_build(
        request,
        notices,
        sortable={"created_at": ("created_at", "pk")},
        default_sort="-created_at",
        per_page=PER_PAGE,
    )
    rows = [(notice, KIND_LABELS.get(notice.kind, "")) for notice in table.page]
    return render(
        request,
        "accounts/notifications/list.html",
        {"table": table, "rows": rows, "unread_only": unread_only},
    )


@require_POST
@login_required
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = notification_mark_read(user=_user(request))
    if count:
        messages.success(request, _("알림 %(count)s건을 읽음으로 표시했습니다.") % {"count": count})
    else:
        messages.info(request, _("읽지 않은 알림이 없습니다."))
    return redirect("accounts:notifications")


@require_http_methods(["GET", "POST"])
@login_required
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the notice read and go where it points; another user's notice is 404, never a hint it exists."""
    notice = get_object_or_404(Notification, pk=pk, user=_user(request))
    notification_mark_read(user=_user(request), notification_ids=[notice.pk])
    # The link is written by our own services, but it is stored text: only a path on this site is followed.
    if notice.link and url_has_allowed_host_and_scheme(
        notice.link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(notice.link)
    return redirect(reverse("accounts:notifications"))
