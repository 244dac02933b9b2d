"""Fixtures shared by every app's tests: users per role and signing in (with the second factor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import (
    InstitutionOrganisationFactory,
    LabFactory,
    OrganisationFactory,
    UserFactory,
)

# Application modules may be named test_*.py for the domain's sake (the evaluations app's test sets): they
# are code, not tests. Test modules live in tests/ folders.
collect_ignore_glob = ["medbroker/*/services/*", "medbroker/*/views/*"]


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # Scans (the demo's among them) read and write only under the test's own folder, inline.
    settings.MEDBROKER_SCAN_ROOTS = [str((tmp_path / "datasets").resolve())]
    settings.MEDBROKER_SCAN_IN_THREAD = False
    # Performance tests: their own storage per test, runs inline.
    settings.MEDBROKER_EVALUATION_ROOT = tmp_path / "evaluations"
    settings.MEDBROKER_EVALUATION_IN_THREAD = False
    # Workspaces: homes and the hub's state in the test's own folder too.
    settings.MEDBROKER_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.MEDBROKER_HUB_STATE_DIR = tmp_path / "hub"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Argon2 with production parameters costs ~0.15 s a hash and the permission matrices create a user per
    # role per test; what they test is who may do what, not the hasher. The settings keep Argon2 first
    # (accounts' tests check that separately).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def company(db: None) -> Organisation:
    return OrganisationFactory(name="대구메디AI", business_registration_number="1208147521")


@pytest.fixture
def other_company(db: None) -> Organisation:
    return OrganisationFactory(name="서울헬스랩", address="서울특별시 강남구 테헤란로 1")


@pytest.fixture
def lab(db: None) -> Organisation:
    return LabFactory()


@pytest.fixture
def applicant(company: Organisation) -> User:
    return UserFactory(username="applicant", organisation=company, roles=[Role.APPLICANT])


@pytest.fixture
def other_applicant(other_company: Organisation) -> User:
    return UserFactory(username="other_applicant", organisation=other_company, roles=[Role.APPLICANT])


@pytest.fixture
def operator(lab: Organisation) -> User:
    return UserFactory(username="operator", organisation=lab, roles=[Role.OPERATOR])


@pytest.fixture
def auditor(lab: Organisation) -> User:
    return UserFactory(username="auditor", organisation=lab, roles=[Role.AUDITOR])


@pytest.fixture
def reviewer(db: None) -> User:
    return UserFactory(
        username="reviewer", organisation=OrganisationFactory(name="평가기관"), roles=[Role.REVIEWER]
    )


@pytest.fixture
def steward(db: None) -> User:
    return UserFactory(
        username="steward", organisation=InstitutionOrganisationFactory(), roles=[Role.DATA_STEWARD]
    )


def _verify_second_factor(client: Client, user: User) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.fixture
def login() -> Callable[[Client, User | None], Client]:
    """Sign ``user`` in on ``client`` (second factor already passed); ``None`` leaves it anonymous."""

    def _login(client: Client, user: User | None) -> Client:
        if user is None:
            return client
        client.force_login(user)
        if user.needs_second_factor:
            _verify_second_factor(client, user)
        return client

    return _login


@pytest.fixture
def users_by_role(
    applicant: User, other_applicant: User, operator: User, auditor: User, reviewer: User, steward: User
) -> dict[str, User | None]:
    """The roles of the permission matrices (style guide), keyed by a short name."""
    return {
        "anonymous": None,
        "applicant": applicant,
        "other_applicant": other_applicant,
        "reviewer": reviewer,
        "steward": steward,
        "operator": operator,
        "auditor": auditor,
    }
