"""A company ready for a workspace: an agreement in force that allows online use, a GPU allocated and
accepted, an online grant of low-sensitivity data with its folder on the server and an online session
open, and a closed-room grant of standard data with its folder.

``workspace_ready`` builds it for the company of ``member``, its folders under ``data_root`` (inside one of
``MEDBROKER_SCAN_ROOTS``, as a workspace binds data only from there); the agreement runs over the 2025 call's support
period (``DURING_SUPPORT`` lies inside it), unless ``signed_on`` and ``ends_on`` say otherwise (the
end-to-end tests, whose hub lives in real time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from medbroker.access.models import AccessGrant, OnlineAccount, OnlineSession
from medbroker.access.tests.factories import grant
from medbroker.accounts.models import User
from medbroker.agreements.models import Agreement
from medbroker.agreements.tests.factories import SIGNED_ON, active_agreement, selected_decision
from medbroker.catalog.models import Sensitivity
from medbroker.compute.models import GpuAllocation
from medbroker.compute.services.allocations import gpu_allocate
from medbroker.compute.tests.factories import pool
from medbroker.ingest.models import ScanProfile


@dataclass
class Ready:
    agreement: Agreement
    allocation: GpuAllocation
    online: AccessGrant
    closed_room: AccessGrant
    online_folder: Path
    closed_room_folder: Path
    session: OnlineSession


def _folder(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (folder / file_name).write_text(text, encoding="utf-8")
    return folder


def workspace_ready(
    member: User,
    operator: User,
    *,
    data_root: Path,
    signed_on: dt.date = SIGNED_ON,
    ends_on: dt.date | None = None,
    session_at: dt.datetime | None = None,
    gpus: int = 1,
) -> Ready:
    # ``gpus``: the A100s of the pool, one more for each further company made ready in the same test.
    pool(a100_32=gpus)
    agreement = active_agreement(
        decision=selected_decision(company=member.organisation, operator=operator),
        allows_online=True,
        signed_on=signed_on,
    )
    if ends_on is not None:
        agreement.ends_on = ends_on
        agreement.save(update_fields=["ends_on"])
        agreement.refresh_from_db()
    allocation = gpu_allocate(agreement=agreement, actor=operator)
    assert isinstance(allocation, GpuAllocation)
    version = agreement.versions.get()
    low = version.datasets.get(dataset__sensitivity=Sensitivity.LOW).dataset
    standard = version.datasets.get(dataset__sensitivity=Sensitivity.STANDARD).dataset
    low.title_en = "Chest X-ray"
    low.save(update_fields=["title_en"])
    online = grant(agreement, low, mode=AccessGrant.Mode.ONLINE)
    closed_room = grant(agreement, standard)
    online_folder = _folder(
        data_root, "chest-xray", {"README.txt": "chest x-ray\n", "labels.csv": "id,label\n1,0\n"}
    )
    closed_room_folder = _folder(data_root, "endoscopy", {"README.txt": "endoscopy\n"})
    ScanProfile.objects.create(dataset=low, source_path=str(online_folder))
    ScanProfile.objects.create(dataset=standard, source_path=str(closed_room_folder))
    account = OnlineAccount.objects.create(
        agreement=agreement, user=member, vpn_account="ktl-vpn-101", vdi_account="vdi-101", issued_by=operator
    )
    session = OnlineSession.objects.create(
        grant=online, account=account, user=member, started_at=session_at or online.starts_at
    )
    return Ready(agreement, allocation, online, closed_room, online_folder, closed_room_folder, session)


def now_inside(ready: Ready) -> dt.datetime:
    """An instant inside the agreement's period, after the grants started."""
    return max(ready.online.starts_at, ready.session.started_at) + dt.timedelta(hours=1)


def gpu_of(ready: Ready) -> dict[str, object]:
    """The GPU record of ``ready``'s allocation, as a workspace keeps it and the hub is told."""
    return {
        "allocation": ready.allocation.pk,
        "profile": "a100-32gb",
        "model": "A100",
        "memory_gb": 32,
        "node": "a100-32-a",
        "index": 0,
    }
