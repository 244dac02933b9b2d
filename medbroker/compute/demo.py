"""Demo data for workspaces: server folders for the datasets granted to the practice call's companies, so that
"작업 공간 시작" opens something to work on.

Each granted dataset without a folder gets one under the first scan root (``<root>/workspace-demo/<id>``), with
a README and small generated images and labels (random texture, no real patient), set as the dataset's
folder through the ingest step's own service. Idempotent: a dataset that already has a folder keeps it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from PIL import Image

from medbroker.access.models import AccessGrant
from medbroker.accounts.models import User
from medbroker.ingest.selectors import dataset_folders
from medbroker.ingest.services.profiles import scan_profile_save

IMAGES_PER_DATASET = 12
IMAGE_SIZE = 128


@dataclass
class WorkspacesDemo:
    summary_lines: list[str]


def _images_write(folder: Path, *, seed: int) -> None:
    generator = np.random.default_rng(seed)
    rows = []
    for number in range(1, IMAGES_PER_DATASET + 1):
        # A soft disc on noise: something to look at and to train a toy classifier on, nothing identifying.
        label = int(number % 3 == 0)
        y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
        centre = generator.uniform(40, 88, size=2)
        disc = np.exp(-(((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * 14.0**2)))
        pixels = 90 + 40 * generator.standard_normal((IMAGE_SIZE, IMAGE_SIZE)) + label * 110 * disc
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
        name = f"case-{number:03d}.png"
        image.save(folder / name)
        rows.append({"file": name, "label": label})
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "label"])
        writer.writeheader()
        writer.writerows(rows)


def _folder_make(root: Path, grant: AccessGrant) -> Path:
    dataset = grant.dataset
    folder = root / "workspace-demo" / str(dataset.pk)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text(
        f"{dataset.title}\n\n데모용으로 생성한 예시 영상 {IMAGES_PER_DATASET}장과 라벨(labels.csv)입니다. "
        "실제 환자 데이터가 아닙니다.\n",
        encoding="utf-8",
    )
    _images_write(folder, seed=dataset.pk)
    return folder


def workspaces_demo_load() -> WorkspacesDemo:
    operator = User.objects.filter(username="operator").first()
    roots = settings.MEDBROKER_SCAN_ROOTS
    if operator is None or not roots:
        return WorkspacesDemo(["운영자 계정이나 데이터 보관 위치가 없어 작업 공간 데모를 건너뛰었습니다."])
    grants = list(
        AccessGrant.objects.filter(status=AccessGrant.Status.ACTIVE)
        .select_related("dataset", "agreement__company")
        .order_by("pk")
    )
    existing = dataset_folders([grant.dataset_id for grant in grants])
    made = 0
    for grant in grants:
        if grant.dataset_id in existing:
            continue
        folder = _folder_make(Path(roots[0]), grant)
        with transaction.atomic():
            scan_profile_save(actor=operator, dataset=grant.dataset, data={"source_path": str(folder)})
        existing[grant.dataset_id] = str(folder)
        made += 1
    return WorkspacesDemo(
        [
            f"작업 공간: 이용 권한이 있는 데이터셋 {made}개에 예시 데이터 폴더를 만들었습니다. "
            f"company2343 → 데이터 이용 권한에서 온라인 이용 시작(백업 코드) → 작업 공간 → 작업 공간 시작 "
            f"(허브 {settings.MEDBROKER_HUB_URL})"
        ]
    )
