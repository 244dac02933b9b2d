"""URLs of the closed learning room (merged into the ``access`` namespace)."""

from django.urls import URLPattern, URLResolver, path

from medbroker.access import views_rooms

urlpatterns: list[URLPattern | URLResolver] = [
    path("rooms/", views_rooms.room_list, name="room_list"),
    path("rooms/add/", views_rooms.room_add_view, name="room_add"),
    path("rooms/seats/<int:pk>/toggle/", views_rooms.seat_toggle_view, name="seat_toggle"),
    path("rooms/day/", views_rooms.room_day_view, name="room_day"),
    path("rooms/bookings/", views_rooms.booking_list, name="booking_list"),
    path("rooms/bookings/new/", views_rooms.booking_create_view, name="booking_create"),
    path("rooms/bookings/<int:pk>/", views_rooms.booking_detail, name="booking_detail"),
    path("rooms/bookings/<int:pk>/cancel/", views_rooms.booking_cancel_view, name="booking_cancel"),
    path("rooms/bookings/<int:pk>/check-in/", views_rooms.booking_check_in_view, name="booking_check_in"),
    path("rooms/bookings/<int:pk>/check-out/", views_rooms.booking_check_out_view, name="booking_check_out"),
]
