from django.urls import path

from medbroker.accounts import views, views_notifications

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("otp/setup/", views.otp_setup, name="otp_setup"),
    path("otp/verify/", views.otp_verify, name="otp_verify"),
    path("company/", views.company, name="company"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/", views.api_token_create, name="api_token_create"),
    path("profile/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("notifications/", views_notifications.notification_list, name="notifications"),
    path("notifications/read-all/", views_notifications.notification_read_all, name="notification_read_all"),
    path("notifications/<int:pk>/open/", views_notifications.notification_open, name="notification_open"),
]
