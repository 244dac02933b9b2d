from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"


def otp_verify(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/otp_verify.html")
