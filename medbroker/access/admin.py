"""Django admin of the access app: for lookup only.

Grants, online accounts and sessions, viewing requests and bookings change through the platform's pages,
whose services apply the call's rules and write the audit log; rooms and seats are managed on the room
pages for the same reason. Here they can be found and read, never changed.
"""

from __future__ import annotations

from django.contrib import admin

from medbroker.access.models import (
    AccessGrant,
    ClosedRoomBooking,
    OnlineAccount,
    OnlineSession,
    Room,
    Seat,
    ViewingRequest,
)
from medbroker.audit.admin_mixins import ReadOnlyRecordAdmin


@admin.register(AccessGrant)
class AccessGrantAdmin(ReadOnlyRecordAdmin):
    list_display = ("agreement", "dataset", "kind", "mode", "view_only", "status", "starts_at", "ends_at")
    list_filter = ("status", "mode", "kind", "agreement__call")
    search_fields = ("agreement__number", "agreement__company__name", "dataset__title")
    list_select_related = ("agreement__company", "dataset")


@admin.register(OnlineAccount)
class OnlineAccountAdmin(ReadOnlyRecordAdmin):
    list_display = ("agreement", "user", "vpn_account", "vdi_account", "created_at", "revoked_at")
    search_fields = ("agreement__number", "user__username", "vpn_account", "vdi_account")
    list_select_related = ("agreement", "user")


@admin.register(OnlineSession)
class OnlineSessionAdmin(ReadOnlyRecordAdmin):
    list_display = ("grant", "user", "started_at", "ended_at", "client_address")
    search_fields = ("user__username", "grant__agreement__number", "client_address")
    list_select_related = ("grant__agreement", "grant__dataset", "user")


@admin.register(ViewingRequest)
class ViewingRequestAdmin(ReadOnlyRecordAdmin):
    list_display = ("agreement", "dataset", "requested_by", "status", "created_at", "decided_at")
    list_filter = ("status",)
    search_fields = ("agreement__number", "agreement__company__name", "dataset__title")
    list_select_related = ("agreement", "dataset", "requested_by")


@admin.register(Room)
class RoomAdmin(ReadOnlyRecordAdmin):
    list_display = ("name", "location", "order", "is_active")


@admin.register(Seat)
class SeatAdmin(ReadOnlyRecordAdmin):
    list_display = ("room", "label", "is_active")
    list_filter = ("room",)


@admin.register(ClosedRoomBooking)
class ClosedRoomBookingAdmin(ReadOnlyRecordAdmin):
    list_display = ("seat", "company", "starts_at", "ends_at", "status", "checked_in_at", "checked_out_at")
    list_filter = ("status", "seat__room")
    search_fields = ("company__name", "agreement__number", "booked_by__username")
    list_select_related = ("seat__room", "company")
