from __future__ import annotations

import pytest
from django.test import Client

from medbroker.accounts.models import Role
from medbroker.accounts.tests.factories import UserFactory
from medbroker.audit.models import AuditEvent
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import datasets_search
from medbroker.catalog.tests.conftest import Catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, login, lab) -> Client:
    admin = UserFactory(
        username="admin", organisation=lab, is_staff=True, is_superuser=True, roles=[Role.OPERATOR]
    )
    return login(client, admin)


def test_renaming_a_body_part_in_the_admin_refreshes_the_search(
    admin_client: Client, catalogue: Catalogue
) -> None:
    body_part = catalogue.colon_ct.body_part

    response = admin_client.post(
        f"/admin/catalog/bodypart/{body_part.pk}/change/",
        {"code": "colon", "name": "대장(결장)", "name_en": "Large intestine", "order": 20},
    )

    assert response.status_code == 302
    assert sorted(datasets_search(user=None, query="intestine").datasets.values_list("title", flat=True)) == [
        "대장 CT 영상"
    ]


def test_datasets_are_read_only_in_the_admin(admin_client: Client, catalogue: Catalogue) -> None:
    dataset = catalogue.colon_ct

    changelist = admin_client.get("/admin/catalog/dataset/")
    change = admin_client.post(f"/admin/catalog/dataset/{dataset.pk}/change/", {"title": "바뀐 이름"})
    add = admin_client.get("/admin/catalog/dataset/add/")

    assert changelist.status_code == 200
    assert add.status_code == 403
    assert change.status_code == 403
    dataset.refresh_from_db()
    assert dataset.title == "대장 CT 영상"


def test_admin_publish_action_goes_through_the_service(admin_client: Client, catalogue: Catalogue) -> None:
    draft = catalogue.colon_endoscopy_draft

    response = admin_client.post(
        "/admin/catalog/dataset/",
        {"action": "publish_selected", "_selected_action": [draft.pk, catalogue.colon_ct.pk]},
        follow=True,
    )

    draft.refresh_from_db()
    assert draft.publication == Dataset.Publication.PUBLISHED
    assert list(AuditEvent.objects.values_list("action", "object_id")) == [
        ("catalog.dataset_published", str(draft.pk))
    ]
    assert [str(m) for m in response.context["messages"]] == [
        "대장 CT 영상: 이미 공개된 데이터셋입니다.",
        "데이터셋 1건을 공개했습니다.",
    ]
