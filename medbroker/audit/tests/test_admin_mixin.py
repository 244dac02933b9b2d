from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from medbroker.accounts.models import Organisation
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().post("/admin/")
    request.user = user
    return request


def test_an_admin_change_is_audited_with_the_changed_fields():
    staff = UserFactory(username="staffer", is_staff=True, is_superuser=True)
    organisation = OrganisationFactory(name="옛이름", address="대구광역시 중구 1")
    model_admin = admin.site._registry[Organisation]
    request = _request(staff)
    form_class = model_admin.get_form(request, organisation, change=True)
    data = {
        field: getattr(organisation, field)
        for field in form_class.base_fields
        if getattr(organisation, field, None) is not None
    }
    data.update(name="새이름", address="서울특별시 중구 1")
    form = form_class(data=data, instance=organisation)
    assert form.is_valid(), form.errors

    model_admin.save_model(request, form.save(commit=False), form, change=True)

    event = AuditEvent.objects.get(action="admin.organisation_changed")
    assert event.actor_id == staff.pk
    assert event.object_id == str(organisation.pk)
    assert event.data == {
        "changed": {"name": "새이름", "address": "서울특별시 중구 1"},
        "password_changed": False,
    }
    assert Organisation.objects.get(pk=organisation.pk).name == "새이름"


def test_an_admin_delete_is_audited():
    staff = UserFactory(username="staffer", is_staff=True, is_superuser=True)
    organisation = OrganisationFactory(name="지울기관")
    pk = organisation.pk

    admin.site._registry[Organisation].delete_model(_request(staff), organisation)

    event = AuditEvent.objects.get(action="admin.organisation_deleted")
    assert (event.object_type, event.object_id, event.summary) == (
        "accounts.organisation",
        str(pk),
        f"admin deleted accounts.organisation#{pk}: 지울기관",
    )
    assert not Organisation.objects.filter(pk=pk).exists()
