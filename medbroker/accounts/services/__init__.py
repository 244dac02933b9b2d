"""Writes of the accounts app. Each service records its own audit event in the same transaction."""

from medbroker.accounts.services.api_tokens import api_token_authenticate, api_token_create, api_token_revoke
from medbroker.accounts.services.profiles import organisation_profile_update, user_profile_update
from medbroker.accounts.services.registration import company_register
from medbroker.accounts.services.second_factor import (
    second_factor_verify,
    totp_device_confirm,
    totp_device_prepare,
)
from medbroker.accounts.services.sign_in import (
    LoginOutcome,
    login_failure_record,
    login_success_record,
    logout_record,
    password_change_record,
)

__all__ = [
    "LoginOutcome",
    "api_token_authenticate",
    "api_token_create",
    "api_token_revoke",
    "company_register",
    "login_failure_record",
    "login_success_record",
    "logout_record",
    "organisation_profile_update",
    "password_change_record",
    "second_factor_verify",
    "totp_device_confirm",
    "totp_device_prepare",
    "user_profile_update",
]
