"""The catalogue of the 2025 call for ``medbroker demo``: reference data and datasets (idempotent).

The nine imaging rows are the table of announcement §3.1, exactly as printed (the table ends with "∴",
so the call itself says more rows exist; only the printed ones are loaded as facts). The time-series
rows and the second hospital are illustrative and marked as such in the data and on every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from medbroker.accounts.models import Organisation
from medbroker.catalog.models import BodyPart, Dataset, DataType, Institution, Modality, Sensitivity
from medbroker.catalog.selectors import dataset_totals
from medbroker.catalog.services import dataset_search_document_refresh
from medbroker.core import timeutils

KTL_INSTITUTION_NAME = "한국산업기술시험원 대구의료인공지능개발지원센터"
KTL_INSTITUTION_NAME_EN = "KTL Daegu Medical AI Development Support Center"
SECOND_HOSPITAL_NAME = "대구한빛병원(가상)"
SECOND_HOSPITAL_NAME_EN = "Daegu Hanbit Hospital (fictional)"

CALL_TABLE_SOURCE = "2025 K-Health 대구 AI 의료생태계 지원사업 공고 3.1 AI 학습용 의료데이터 표"
CALL_TIME_SERIES_SOURCE = (
    "2025 K-Health 대구 AI 의료생태계 지원사업 공고 3.1: 시계열 데이터(EEG, ECG 등) 10만여 건"
)
ILLUSTRATIVE_SOURCE = "데모용 가상 기관의 예시 데이터(실제 데이터 아님)"
ANNOTATION_NOT_IN_CALL = (
    "공고에는 Annotation의 종류와 형식이 적혀 있지 않습니다. 수요 데이터 협의에서 확인해 주십시오."
)

# (code, name, English name, order): the order is the order of the call's table.
BODY_PARTS: tuple[tuple[str, str, str, int], ...] = (
    ("stomach", "위", "Stomach", 10),
    ("colon", "대장", "Colon", 20),
    ("breast", "유방", "Breast", 30),
    ("urinary-stone", "요로결석", "Urinary stones", 40),
    ("bile-duct-stone", "담관결석", "Bile-duct stones", 50),
    ("emergency-abdomen", "응급복부", "Emergency abdomen", 60),
    ("chest", "흉부", "Chest", 70),
    ("brain", "뇌", "Brain", 80),
    ("heart", "심장", "Heart", 90),
)

# (code, name, English name, data type, DICOM modality code, order)
MODALITIES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("endoscopy", "내시경", "Endoscopy", DataType.IMAGING, "ES", 10),
    ("ct", "CT", "CT", DataType.IMAGING, "CT", 20),
    ("ultrasound", "초음파", "Ultrasound", DataType.IMAGING, "US", 30),
    ("mri", "MRI", "MRI", DataType.IMAGING, "MR", 40),
    ("mammography", "Mammo", "Mammography", DataType.IMAGING, "MG", 50),
    ("xray", "X선", "Radiography (X-ray)", DataType.IMAGING, "DX", 60),
    ("eeg", "EEG", "Electroencephalography (EEG)", DataType.TIME_SERIES, "EEG", 70),
    ("ecg", "ECG", "Electrocardiography (ECG)", DataType.TIME_SERIES, "ECG", 80),
)

# Sensitivity of the call's rows. The call names no data as low sensitivity, so none of them is put
# where online use could be agreed (§4 ⑤): they stay in the closed learning room. Volumetric CT and MRI
# are "high": a 3D series lets a body surface, and for head-adjacent fields a face, be reconstructed, and
# their headers carry more acquisition detail. Endoscopy, ultrasound and mammography are 2D images of
# an organ without such a surface once de-identified: "standard".
_SENSITIVITY_BY_MODALITY = {
    "endoscopy": Sensitivity.STANDARD,
    "ultrasound": Sensitivity.STANDARD,
    "mammography": Sensitivity.STANDARD,
    "ct": Sensitivity.HIGH,
    "mri": Sensitivity.HIGH,
}

# The table of announcement §3.1: (body part, modality, annotated, non-annotated). Totals are derived.
CALL_IMAGING_ROWS: tuple[tuple[str, str, int, int], ...] = (
    ("stomach", "endoscopy", 10_550, 10_950),
    ("colon", "endoscopy", 5_000, 11_000),
    ("colon", "ct", 500, 1_500),
    ("breast", "ultrasound", 800, 200),
    ("breast", "mri", 300, 100),
    ("breast", "mammography", 5_000, 9_000),
    ("urinary-stone", "ct", 1_050, 1_400),
    ("bile-duct-stone", "ct", 450, 200),
    ("emergency-abdomen", "ct", 700, 400),
)


@dataclass(frozen=True)
class CatalogDemo:
    steward_organisation: Organisation
    summary_lines: list[str]


def _reference_data_load() -> tuple[dict[str, BodyPart], dict[str, Modality]]:
    body_parts = {}
    for code, name, name_en, order in BODY_PARTS:
        body_parts[code], _ = BodyPart.objects.update_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "order": order}
        )
    modalities = {}
    for code, name, name_en, data_type, dicom_code, order in MODALITIES:
        modalities[code], _ = Modality.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "name_en": name_en,
                "data_type": data_type,
                "dicom_code": dicom_code,
                "order": order,
            },
        )
    return body_parts, modalities


def _institution(
    *, name: str, name_en: str, address: str, phone: str, description: str, scan_folder: str | None = None
) -> tuple[Organisation, Institution]:
    organisation, _ = Organisation.objects.update_or_create(
        kind=Organisation.Kind.INSTITUTION,
        name=name,
        defaults={"name_en": name_en, "address": address, "contact_phone": phone},
    )
    values: dict[str, Any] = {"region": "대구", "description": description}
    if scan_folder is not None:
        values["scan_folder"] = scan_folder
    institution, _ = Institution.objects.update_or_create(organisation=organisation, defaults=values)
    return organisation, institution


def _dataset(institution: Institution, title: str, **values: Any) -> Dataset:
    # (institution, title) is the stable key: the demo's titles never change between runs.
    modality: Modality = values["modality"]
    values.setdefault("data_type", modality.data_type)
    values.setdefault("publication", Dataset.Publication.PUBLISHED)
    existing = Dataset.objects.filter(institution=institution, title=title).only("published_at").first()
    if values["publication"] == Dataset.Publication.PUBLISHED:
        # Keep the first publication time across runs, so a re-run does not look like a new release.
        values["published_at"] = (existing.published_at if existing else None) or timeutils.now()
    dataset, _ = Dataset.objects.update_or_create(institution=institution, title=title, defaults=values)
    dataset = Dataset.objects.select_related("institution__organisation", "body_part", "modality").get(
        pk=dataset.pk
    )
    dataset_search_document_refresh(dataset)
    return dataset


def _ktl_contact() -> dict[str, str]:
    return {
        "contact_name": "대구의료인공지능개발지원센터 지원사업 담당",
        "contact_phone": "053-281-0034",
    }


@transaction.atomic
def catalog_demo_load() -> CatalogDemo:
    body_parts, modalities = _reference_data_load()

    ktl_organisation, ktl = _institution(
        name=KTL_INSTITUTION_NAME,
        name_en=KTL_INSTITUTION_NAME_EN,
        address="대구광역시 동구 첨단로",
        phone="053-281-0034",
        description="공고 3.1의 AI 학습용 의료데이터(영상 약 9만 건, 시계열 약 10만 건)를 보유·운영하는 KTL 데이터베이스입니다.",
        # KTL's stewards scan under the first allowed root, where the ingest demo writes its archive.
        scan_folder=settings.MEDBROKER_SCAN_ROOTS[0] if settings.MEDBROKER_SCAN_ROOTS else "",
    )
    for number, (body_code, modality_code, annotated, non_annotated) in enumerate(CALL_IMAGING_ROWS, start=1):
        body_part, modality = body_parts[body_code], modalities[modality_code]
        endoscopy = modality_code == "endoscopy"
        _dataset(
            ktl,
            f"{body_part.name} {modality.name} 영상",
            title_en=f"{body_part.name_en} {modality.name_en} images",
            description=(
                f"{body_part.name} 부위 {modality.name} 영상 데이터입니다. "
                f"Annotation {annotated:,}건, Non-Annotation {non_annotated:,}건, 합계 {annotated + non_annotated:,}건."
            ),
            body_part=body_part,
            modality=modality,
            annotated_count=annotated,
            non_annotated_count=non_annotated,
            formats=["DICOM", "JPEG"] if endoscopy else ["DICOM"],
            annotation_description=ANNOTATION_NOT_IN_CALL,
            sensitivity=_SENSITIVITY_BY_MODALITY[modality_code],
            is_illustrative=False,
            source_note=CALL_TABLE_SOURCE,
            key_information={
                "공고 구분": "3.1 AI 학습용 의료데이터 · 영상",
                "공고 표 순번": number,
                "DICOM 모달리티": modality.dicom_code,
                "기본 활용 장소": "KTL 대구센터 폐쇄형 학습실",
            },
            **_ktl_contact(),
        )

    # The call gives "about 100,000" time-series cases and no breakdown: the split below is made up so the
    # catalogue can show the two kinds the call names, and every page says so through is_illustrative.
    for body_code, modality_code, title, title_en, annotated, non_annotated, file_format in (
        ("brain", "eeg", "뇌파(EEG) 시계열", "EEG time series", 10_000, 30_000, "EDF"),
        ("heart", "ecg", "심전도(ECG) 시계열", "ECG time series", 20_000, 40_000, "WFDB"),
    ):
        _dataset(
            ktl,
            title,
            title_en=title_en,
            description=(
                "공고에는 시계열 데이터(EEG, ECG 등)가 약 10만 건이라고만 적혀 있고 세부 구성이 없습니다. "
                "여기 보이는 건수와 Annotation 구분은 예시이며, 실제 구성은 수요 데이터 협의에서 확인해 주십시오."
            ),
            body_part=body_parts[body_code],
            modality=modalities[modality_code],
            annotated_count=annotated,
            non_annotated_count=non_annotated,
            formats=[file_format],
            annotation_description=ANNOTATION_NOT_IN_CALL,
            sensitivity=Sensitivity.STANDARD,
            is_illustrative=True,
            source_note=CALL_TIME_SERIES_SOURCE,
            key_information={"공고 구분": "3.1 AI 학습용 의료데이터 · 시계열", "세부 구성": "예시"},
            **_ktl_contact(),
        )

    _, hospital = _institution(
        name=SECOND_HOSPITAL_NAME,
        name_en=SECOND_HOSPITAL_NAME_EN,
        address="대구광역시 중구 (가상 주소)",
        phone="053-000-0000",
        description="데모를 위한 가상의 대구 지역 병원입니다. 이 기관의 데이터는 모두 예시입니다.",
    )
    for body_code, modality_code, title, title_en, annotated, non_annotated, file_format in (
        ("chest", "xray", "흉부 X선 영상 (예시)", "Chest radiographs (illustrative)", 3_000, 7_000, "DICOM"),
        ("heart", "ecg", "12유도 심전도 (예시)", "12-lead ECG (illustrative)", 2_000, 8_000, "WFDB"),
    ):
        _dataset(
            hospital,
            title,
            title_en=title_en,
            description=(
                "데모용 가상 병원의 예시 데이터셋입니다. 민감도가 낮은 데이터의 온라인 활용 절차를 보여주기 위한 항목입니다."
            ),
            body_part=body_parts[body_code],
            modality=modalities[modality_code],
            annotated_count=annotated,
            non_annotated_count=non_annotated,
            formats=[file_format],
            annotation_description="판독 소견 기반 정상/비정상 라벨(예시)",
            sensitivity=Sensitivity.LOW,
            is_illustrative=True,
            source_note=ILLUSTRATIVE_SOURCE,
            key_information={"비고": "가상 기관의 예시 데이터"},
            contact_name="대구한빛병원 의료정보팀(가상)",
            contact_email="data@hanbit-hospital.example",
        )

    call_totals = dataset_totals(include_illustrative=False).overall
    published = Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED).count()
    lines = [
        f"데이터 카탈로그: 보유기관 {Institution.objects.count()}곳, 공개 데이터셋 {published}건",
        (
            f"공고 3.1 영상 데이터 {len(CALL_IMAGING_ROWS)}건: Annotation {call_totals.annotated:,} · "
            f"Non-Annotation {call_totals.non_annotated:,} · 합계 {call_totals.total:,}"
        ),
        f"데이터 관리자 소속 기관: {ktl_organisation.name}",
    ]
    return CatalogDemo(steward_organisation=ktl_organisation, summary_lines=lines)
