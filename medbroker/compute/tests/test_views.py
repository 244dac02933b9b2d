"""What the compute pages and the API show and do, for the company, the operator and the auditor."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.compute.models import GpuAllocation, GpuUsageRecord, UsageImport
from medbroker.compute.selectors import allocation_for_agreement, node_share
from medbroker.compute.services.allocations import gpu_allocate, gpu_release
from medbroker.compute.services.inventory import inventory_load
from medbroker.compute.services.usage import usage_import
from medbroker.compute.tests.factories import agreement_for, node_definition, pool
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db
Login = Callable[[Client, User | None], Client]
# Usage is imported only for a GPU the agreement held that day: the usage files here cover 2025-09-10/11.
HELD_SINCE = kst(2025, 9, 2, 9, 0, 0)


@pytest.fixture(autouse=True)
def during_support() -> Iterator[None]:
    with time_machine.travel(DURING_SUPPORT, tick=False):
        yield


def _csv(*lines: str, name: str = "usage.csv") -> SimpleUploadedFile:
    content = "\n".join(["date,node,gpu,agreement,gpu_hours", *lines]) + "\n"
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_node_share_divides_cpu_and_memory_by_the_companies_on_the_node(operator: User) -> None:
    nodes = inventory_load(definition=[node_definition("v100-16", 4)])
    for _ in range(3):
        gpu_allocate(agreement=agreement_for("v100-16"), actor=operator)

    share = node_share(nodes[0])

    assert (share.companies, share.cpu_cores_share, share.memory_gb_share, share.percent) == (
        3,
        Decimal("42.7"),
        Decimal("40.0"),
        33,
    )


def test_the_company_sees_its_gpu_its_share_and_its_hours(
    applicant: User, operator: User, login: Login
) -> None:
    pool(v100_16=4)
    mine = agreement_for("v100-16", company=applicant.organisation)
    # Held since before the days of the usage file.
    with time_machine.travel(HELD_SINCE, tick=False):
        gpu_allocate(agreement=mine, actor=operator)
    gpu_allocate(agreement=agreement_for("v100-16", rank=2), actor=operator)
    usage_import(
        upload=_csv(f"2025-09-10,v100-16-a,0,{mine.number},5", f"2025-09-11,v100-16-a,0,{mine.number},7.25"),
        actor=operator,
    )

    response = login(Client(), applicant).get(reverse("compute:agreement_compute", args=[mine.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<dt>노드</dt><dd>v100-16-a</dd>" in page
    assert "<dt>GPU 번호</dt><dd>gpu0</dd>" in page
    assert "<dt>스토리지</dt><dd>1TB (HDD)</dd>" in page
    assert "공유 자원: 현재 2개 기업 사용 중, 약 64.0코어·60.0 GB 상당" in page
    assert 'aria-valuenow="50"' in page
    assert "누적 12.25시간" in page
    assert response.context["chart"]["labels"] == ["2025-09-10", "2025-09-11"]
    assert response.context["chart"]["hours"] == [5.0, 7.25]
    assert "vendor/chartjs/chart.umd.min.js" in page
    # The company answers offers; it neither allocates nor releases.
    assert reverse("compute:release", args=[mine.pk]) not in page
    assert reverse("compute:allocate", args=[mine.pk]) not in page


def test_a_waiting_company_sees_its_position_and_then_answers_the_offer(
    applicant: User, operator: User, login: Login
) -> None:
    pool(a100_32=1)
    held = gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    gpu_allocate(agreement=agreement_for("a100-32", rank=2), actor=operator)
    mine = agreement_for("a100-32", rank=3, company=applicant.organisation)
    gpu_allocate(agreement=mine, actor=operator)
    client = login(Client(), applicant)
    url = reverse("compute:agreement_compute", args=[mine.pk])

    waiting = client.get(url).content.decode()

    assert "대기 순서 2번째" in waiting
    assert reverse("compute:offer_accept", args=[mine.pk]) not in waiting

    # The first in line declines, so the GPU comes to this company.
    assert isinstance(held, GpuAllocation)
    gpu_release(allocation=held, actor=operator, reason="반납")
    second_offer = GpuAllocation.objects.get(status="offered")
    second_user = User.objects.get(organisation=second_offer.agreement.company)
    login(Client(), second_user).post(
        reverse("compute:offer_decline", args=[second_offer.agreement_id]), follow=True
    )
    offered = client.get(url).content.decode()

    assert "2025-09-18 10:00(KST)까지 수락하지 않으면" in offered
    assert reverse("compute:offer_accept", args=[mine.pk]) in offered

    response = client.post(reverse("compute:offer_accept", args=[mine.pk]), follow=True)

    assert response.redirect_chain == [(url, 302)]
    assert "a100-32-a/gpu0 배정을 수락했습니다." in response.content.decode()
    allocation = allocation_for_agreement(mine)
    assert allocation is not None
    assert allocation.status == "active"


def test_operator_allocates_and_releases_from_the_page(operator: User, login: Login) -> None:
    pool(a100_32=1)
    agreement = agreement_for("a100-32")
    client = login(Client(), operator)
    url = reverse("compute:agreement_compute", args=[agreement.pk])

    allocated = client.post(reverse("compute:allocate", args=[agreement.pk]), follow=True)
    refused = client.post(reverse("compute:release", args=[agreement.pk]), {"reason": ""})
    released = client.post(
        reverse("compute:release", args=[agreement.pk]), {"reason": "과제 중단"}, follow=True
    )

    assert allocated.redirect_chain == [(url, 302)]
    assert "a100-32-a/gpu0을(를) 배정했습니다." in allocated.content.decode()
    assert refused.status_code == 400
    assert refused.context["release_form"].errors == {"reason": ["필수 항목입니다."]}
    assert "a100-32-a/gpu0을(를) 반납 처리했습니다." in released.content.decode()
    assert list(GpuAllocation.objects.values_list("status", "release_reason")) == [("released", "과제 중단")]


def test_operator_allocating_without_a_free_gpu_is_told_the_waiting_position(
    operator: User, login: Login
) -> None:
    pool(a100_32=1)
    gpu_allocate(agreement=agreement_for("a100-32", rank=1), actor=operator)
    agreement = agreement_for("a100-32", rank=2)

    response = login(Client(), operator).post(reverse("compute:allocate", args=[agreement.pk]), follow=True)

    assert "빈 A100 32GB GPU가 없어 대기 목록 1번째에 올렸습니다." in response.content.decode()


def test_inventory_shows_holders_free_counts_and_the_waiting_list_in_order(
    operator: User, auditor: User, login: Login
) -> None:
    pool(a100_32=1, v100_16=2)
    holder = agreement_for("a100-32", rank=1)
    gpu_allocate(agreement=holder, actor=operator)
    later = agreement_for("a100-32", rank=4)
    gpu_allocate(agreement=later, actor=operator)
    earlier = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=earlier, actor=operator)

    operator_page = login(Client(), operator).get(reverse("compute:inventory"))
    auditor_page = login(Client(), auditor).get(reverse("compute:inventory")).content.decode()

    page = operator_page.content.decode()
    assert "전체 1개 · 사용 1개 · 빈 GPU 0개" in page
    assert "전체 2개 · 사용 0개 · 빈 GPU 2개" in page
    assert page.index(earlier.company.name) < page.index(later.company.name)
    assert holder.company.name in page
    a100 = next(row for row in operator_page.context["overview"].types if row.gpu_type.gpu_model == "A100")
    assert [entry.agreement for entry in a100.waiting] == [earlier, later]
    assert reverse("compute:usage_import") in page
    # The auditor reads the same, without the operator's buttons.
    assert "전체 1개 · 사용 1개 · 빈 GPU 0개" in auditor_page
    assert reverse("compute:usage_import") not in auditor_page
    assert "GPU 배정</button>" not in auditor_page


def test_usage_import_page_lists_every_problem_and_stores_nothing(operator: User, login: Login) -> None:
    pool(v100_16=1)
    agreement = agreement_for("v100-16")
    upload = _csv(
        f"2025-09-10,v100-16-a,0,{agreement.number},25", f"2025-09-11,v100-16-b,0,{agreement.number},1"
    )

    response = login(Client(), operator).post(reverse("compute:usage_import"), {"file": upload})

    assert response.status_code == 400
    assert response.context["problems"] == [
        "'usage.csv' 2행 gpu_hours: 0~24 사이의 숫자가 아닙니다 (got '25')",
        "'usage.csv' 3행 node: 등록된 GPU 노드가 아닙니다 (got 'v100-16-b')",
    ]
    assert UsageImport.objects.count() == GpuUsageRecord.objects.count() == 0


def test_usage_import_page_shows_what_was_imported(operator: User, login: Login) -> None:
    pool(v100_16=1)
    agreement = agreement_for("v100-16")
    with time_machine.travel(HELD_SINCE, tick=False):
        gpu_allocate(agreement=agreement, actor=operator)
    client = login(Client(), operator)

    response = client.post(
        reverse("compute:usage_import"),
        {"file": _csv(f"2025-09-10,v100-16-a,0,{agreement.number},3.5")},
        follow=True,
    )

    source = UsageImport.objects.get()
    assert response.redirect_chain == [(f"{reverse('compute:usage_import')}?imported={source.pk}", 302)]
    assert [str(m) for m in response.context["messages"]] == ["'usage.csv'에서 1행을 가져왔습니다."]
    assert [(r.agreement, r.gpu_hours) for r in response.context["imported_records"]] == [
        (agreement, Decimal("3.50"))
    ]


# ---------------------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------------------


def _allocate(client: Client, agreement: Agreement) -> object:
    return client.post(
        f"/api/v1/compute/agreements/{agreement.pk}/allocate", json.dumps({}), content_type="application/json"
    )


def test_api_allocates_then_waitlists_then_refuses_twice(operator: User, login: Login) -> None:
    pool(a100_32=1)
    first = agreement_for("a100-32", rank=1)
    second = agreement_for("a100-32", rank=2)
    client = login(Client(), operator)

    allocated = _allocate(client, first)
    waitlisted = _allocate(client, second)
    twice = _allocate(client, first)

    assert allocated.status_code == 200  # type: ignore[attr-defined]
    body = allocated.json()  # type: ignore[attr-defined]
    assert body["result"] == "allocated"
    assert body["waitlist_position"] is None
    assert {
        k: body["allocation"][k] for k in ("status", "node", "gpu_index", "gpu_model", "gpu_memory_gb")
    } == {
        "status": "active",
        "node": "a100-32-a",
        "gpu_index": 0,
        "gpu_model": "A100",
        "gpu_memory_gb": 32,
    }
    assert body["allocation"]["allocated_at"] == "2025-09-15T10:00:00+09:00"
    assert waitlisted.json() == {"result": "waitlisted", "allocation": None, "waitlist_position": 1}  # type: ignore[attr-defined]
    assert twice.status_code == 409  # type: ignore[attr-defined]
    assert twice.json()["code"] == "gpu_already_allocated"  # type: ignore[attr-defined]


def test_api_agreement_shows_the_company_its_gpu_share_and_hours(
    applicant: User, operator: User, login: Login
) -> None:
    pool(a100_32=1)
    mine = agreement_for("a100-32", company=applicant.organisation)
    with time_machine.travel(HELD_SINCE, tick=False):
        gpu_allocate(agreement=mine, actor=operator)
    usage_import(upload=_csv(f"2025-09-10,a100-32-a,0,{mine.number},8"), actor=operator)

    body = login(Client(), applicant).get(f"/api/v1/compute/agreements/{mine.pk}").json()

    assert body["number"] == mine.number
    assert body["granted_gpu"] == "A100 32GB"
    assert body["in_force"] is True
    assert body["allocation"]["status"] == "active"
    assert body["share"] == {
        "companies": 1,
        "cpu_cores": 32,
        "memory_gb": 128,
        "cpu_cores_share": "32.0",
        "memory_gb_share": "128.0",
    }
    assert body["waitlist_position"] is None
    assert body["gpu_hours_total"] == "8.00"
    assert body["gpu_hours_by_day"] == [{"day": "2025-09-10", "gpu_hours": "8.00"}]


def test_api_inventory(operator: User, login: Login) -> None:
    pool(a100_32=1)
    holder = agreement_for("a100-32", rank=1)
    gpu_allocate(agreement=holder, actor=operator)
    waiting = agreement_for("a100-32", rank=2)
    gpu_allocate(agreement=waiting, actor=operator)

    body = login(Client(), operator).get("/api/v1/compute/inventory").json()

    assert body["nodes"][0]["gpus"] == [
        {
            "index": 0,
            "is_active": True,
            "status": "active",
            "agreement": holder.number,
            "company": holder.company.name,
        }
    ]
    assert body["types"] == [
        {
            "gpu_model": "A100",
            "gpu_memory_gb": 32,
            "total": 1,
            "free": 0,
            "waiting": [
                {
                    "position": 1,
                    "agreement": waiting.number,
                    "company": waiting.company.name,
                    "selection_rank": 2,
                    "since": "2025-09-15T10:00:00+09:00",
                }
            ],
        }
    ]
