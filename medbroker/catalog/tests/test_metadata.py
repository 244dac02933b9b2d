"""Metadata exports of a dataset: HealthDCAT-AP, Croissant and schema.org, and who may fetch them."""

from __future__ import annotations

import copy
import json
import re
import sys
from typing import Any

import absl.logging
import mlcroissant
import pytest
from django.test import Client
from mlcroissant._src.core.context import Context
from mlcroissant._src.structure_graph.nodes.metadata import Metadata
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS

from medbroker.catalog.metadata import dataset_croissant, dataset_dcat, dataset_dcat_graph, dataset_schema_org
from medbroker.catalog.models import Dataset, Sensitivity
from medbroker.catalog.tests.conftest import institution
from medbroker.catalog.tests.factories import DatasetFactory, InstitutionFactory, body_part, modality
from medbroker.core.timeutils import kst

pytestmark = pytest.mark.django_db

# mlcroissant logs through absl, whose handler keeps the stream that was sys.stderr when it was imported
# (pytest's capture during collection) and closes it when Django later reconfigures logging, which takes
# the rest of the run's stderr with it. The real stderr is one absl never closes.
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__

# Plain namespaces: rdflib's closed DCAT and XSD warn on every attribute pytest probes while collecting.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
HEALTH = Namespace("http://healthdataportal.eu/ns/health#")
DPV = Namespace("https://w3id.org/dpv#")
DPV_PD = Namespace("https://w3id.org/dpv/dpv-pd#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
BASE = "http://testserver/"
PUBLISHED_AT = kst(2025, 7, 7, 9, 0)
UPDATED_AT = kst(2025, 8, 1, 14, 30)
SCANNED_AT = kst(2025, 7, 30, 18, 0)
NON_PUBLIC = URIRef("http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC")
HEALTH_THEME = URIRef("http://publications.europa.eu/resource/authority/data-theme/HEAL")
CLOSED_ROOM_TERMS = (
    "의료데이터 중개 플랫폼에서 수요 협의와 활용 신청, 평가를 거쳐 협약을 맺은 기업만 이용할 수 있습니다. "
    "KTL 대구센터의 보안 환경인 폐쇄형 학습실에서만 활용할 수 있습니다. "
    "데이터 파일은 내려받거나 반출할 수 없습니다."
)

# What the ingest step keeps of a scan (``key_information_from_summary``), trimmed to what matters here.
SCAN_SUMMARY: dict[str, Any] = {
    "files": 5003,
    "instances": 5000,
    "patients": 120,
    "studies": 130,
    "series": 260,
    "modalities": {"CT": 5000},
    "body_parts": {"ABDOMEN": 4800, "CHEST": 200},
    "manufacturers": {"SIEMENS": 5000},
    "models": {"SOMATOM Force": 5000},
    "signals": {"records": 0, "formats": {}},
    "acquisition": {
        "ct_slice_thickness_mm": {"min": 1.0, "max": 5.0, "median": 2.5, "values": {"1.0": 100, "5.0": 30}}
    },
    # "unknown" is under k, and hides "F" with it (the total would give it away).
    "sex": {"M": 61, "F": 57, "unknown": 2},
    # "30-39" is under k, and hides "60-69" with it.
    "age_bands": {"30-39": 3, "40-49": 40, "50-59": 60, "60-69": 17},
    "date_range": {"first": "2019-03-02", "last": "2021-11-30"},
    "cases": {"total": 130, "annotated": 30, "non_annotated": 100},
    "deid": {"files_with_findings": 0, "findings": {}},
}


def _stamp(dataset: Dataset, **values: Any) -> Dataset:
    # ``update`` leaves ``updated_at`` alone (auto_now applies to save()), so the times are exact.
    Dataset.objects.filter(pk=dataset.pk).update(
        published_at=values.pop("published_at", PUBLISHED_AT), updated_at=UPDATED_AT, **values
    )
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def colon_ct() -> Dataset:
    dataset = DatasetFactory(
        institution=institution("대구가나병원", "Daegu Gana Hospital"),
        title="대장 CT 영상",
        title_en="Colon CT images",
        description="대장 CT 영상과 판독 소견.",
        body_part=body_part("colon"),
        modality=modality("ct"),
        annotated_count=500,
        non_annotated_count=1500,
        formats=["DICOM", "EDF"],
        annotation_description="병변 위치를 경계 상자로 표시 (영상의학과 전문의 2인 합의)",
        sensitivity=Sensitivity.HIGH,
        contact_name="김데이터",
        contact_email="data@gana.example",
        contact_phone="053-123-4567",
    )
    return _stamp(
        dataset,
        scan_summary=SCAN_SUMMARY,
        scanned_at=SCANNED_AT,
        deidentification=Dataset.Deidentification.CLEAN,
    )


def _subject(dataset: Dataset) -> URIRef:
    return URIRef(f"{BASE}catalog/{dataset.pk}/#dataset")


def _turtle(dataset: Dataset) -> Graph:
    return Graph().parse(data=dataset_dcat(dataset, base_url=BASE, format="turtle"), format="turtle")


def _objects(graph: Graph, subject: Any, predicate: URIRef) -> set[Any]:
    return set(graph.objects(subject, predicate))


def _one(graph: Graph, subject: Any, predicate: URIRef) -> Any:
    (value,) = graph.objects(subject, predicate)
    return value


def _number(value: int) -> Literal:
    return Literal(str(value), datatype=XSD.nonNegativeInteger)


# ---------------------------------------------------------------------------------------------------------
# HealthDCAT-AP
# ---------------------------------------------------------------------------------------------------------


def test_dcat_describes_the_dataset_with_the_catalogue_facts(colon_ct: Dataset) -> None:
    graph = _turtle(colon_ct)
    subject = _subject(colon_ct)
    landing = URIRef(f"{BASE}catalog/{colon_ct.pk}/")

    assert _objects(graph, subject, RDF.type) == {DCAT.Dataset}
    assert _objects(graph, subject, DCTERMS.identifier) == {Literal(str(landing))}
    assert _objects(graph, subject, DCTERMS.title) == {
        Literal("대장 CT 영상", lang="ko"),
        Literal("Colon CT images", lang="en"),
    }
    assert _objects(graph, subject, DCTERMS.description) == {Literal("대장 CT 영상과 판독 소견.", lang="ko")}
    assert _objects(graph, subject, DCAT.keyword) == {
        Literal("대장", lang="ko"),
        Literal("Colon", lang="en"),
        Literal("CT", lang="ko"),
        Literal("CT", lang="en"),
    }
    assert _objects(graph, subject, DCAT.theme) == {HEALTH_THEME}
    assert _objects(graph, subject, DCTERMS.accessRights) == {NON_PUBLIC}
    assert _objects(graph, subject, DCAT.landingPage) == {landing}
    assert _objects(graph, subject, DCTERMS.issued) == {
        Literal("2025-07-07T09:00:00+09:00", datatype=XSD.dateTime)
    }
    assert _objects(graph, subject, DCTERMS.modified) == {
        Literal("2025-08-01T14:30:00+09:00", datatype=XSD.dateTime)
    }
    rights = _one(graph, subject, DCTERMS.rights)
    assert _objects(graph, rights, RDF.type) == {DCTERMS.RightsStatement}
    assert _objects(graph, rights, RDFS.label) == {Literal(CLOSED_ROOM_TERMS, lang="ko")}

    publisher = _one(graph, subject, DCTERMS.publisher)
    assert _objects(graph, publisher, RDF.type) == {FOAF.Agent, FOAF.Organization}
    assert _objects(graph, publisher, FOAF.name) == {
        Literal("대구가나병원", lang="ko"),
        Literal("Daegu Gana Hospital", lang="en"),
    }
    contact = _one(graph, subject, DCAT.contactPoint)
    assert _objects(graph, contact, RDF.type) == {VCARD.Kind}
    assert _objects(graph, contact, VCARD.fn) == {Literal("김데이터")}
    assert _objects(graph, contact, VCARD.hasEmail) == {URIRef("mailto:data@gana.example")}
    assert _objects(graph, contact, VCARD.hasTelephone) == {URIRef("tel:+82-53-123-4567")}


def test_dcat_distributions_name_formats_and_lead_to_the_dataset_page_never_to_a_download(
    colon_ct: Dataset,
) -> None:
    graph = _turtle(colon_ct)
    landing = URIRef(f"{BASE}catalog/{colon_ct.pk}/")
    dicom = URIRef(f"{BASE}catalog/{colon_ct.pk}/#distribution-dicom")
    edf = URIRef(f"{BASE}catalog/{colon_ct.pk}/#distribution-edf")

    assert _objects(graph, _subject(colon_ct), DCAT.distribution) == {dicom, edf}
    assert _objects(graph, dicom, RDF.type) == {DCAT.Distribution}
    assert _objects(graph, dicom, DCTERMS.title) == {Literal("DICOM")}
    assert _objects(graph, dicom, DCAT.mediaType) == {
        URIRef("http://www.iana.org/assignments/media-types/application/dicom")
    }
    assert _objects(graph, dicom, DCAT.accessURL) == {landing}
    assert _objects(graph, dicom, DCTERMS.accessRights) == {NON_PUBLIC}
    # EDF has no registered media type: the distribution names it and says no more.
    assert _objects(graph, edf, DCAT.mediaType) == set()
    assert _objects(graph, edf, DCTERMS.title) == {Literal("EDF")}
    assert list(graph.triples((None, DCAT.downloadURL, None))) == []


def test_dcat_health_properties_come_from_the_scan_summary(colon_ct: Dataset) -> None:
    graph = _turtle(colon_ct)
    subject = _subject(colon_ct)

    assert _objects(graph, subject, HEALTH.numberOfRecords) == {_number(2000)}
    assert _objects(graph, subject, HEALTH.numberOfUniqueIndividuals) == {_number(120)}
    # The bands the public page shows: 40-49 and 50-59. "30-39" has 3 and hides "60-69" (17) with it.
    assert _objects(graph, subject, HEALTH.minTypicalAge) == {_number(40)}
    assert _objects(graph, subject, HEALTH.maxTypicalAge) == {_number(59)}
    category = _one(graph, subject, HEALTH.healthCategory)
    assert _objects(graph, category, RDF.type) == {SKOS.Concept}
    assert _objects(graph, category, SKOS.prefLabel) == {
        Literal("의료영상 데이터", lang="ko"),
        Literal("Medical imaging data", lang="en"),
    }
    hdab = _one(graph, subject, HEALTH.hdab)
    assert _objects(graph, hdab, FOAF.name) == {
        Literal("한국산업기술시험원(KTL)", lang="ko"),
        Literal("Korea Testing Laboratory (KTL)", lang="en"),
    }
    assert _objects(graph, hdab, FOAF.homepage) == {URIRef(BASE)}
    # Months, as the dataset page shows them.
    period = _one(graph, subject, DCTERMS.temporal)
    assert _objects(graph, period, RDF.type) == {DCTERMS.PeriodOfTime}
    assert _objects(graph, period, DCAT.startDate) == {Literal("2019-03", datatype=XSD.gYearMonth)}
    assert _objects(graph, period, DCAT.endDate) == {Literal("2021-11", datatype=XSD.gYearMonth)}
    assert _objects(graph, subject, DPV.hasPersonalData) == {
        DPV_PD.HealthRecord,
        DPV.PseudonymisedData,
        DPV.SpecialCategoryPersonalData,
    }
    assert _objects(graph, subject, DPV.hasPurpose) == {DPV.ResearchAndDevelopment}


def test_dcat_leaves_out_counts_under_k(colon_ct: Dataset) -> None:
    _stamp(colon_ct, scan_summary={**SCAN_SUMMARY, "patients": 3, "age_bands": {"40-49": 2, "50-59": 1}})

    graph = _turtle(colon_ct)

    subject = _subject(colon_ct)
    assert _objects(graph, subject, HEALTH.numberOfUniqueIndividuals) == set()
    assert _objects(graph, subject, HEALTH.minTypicalAge) == set()
    assert _objects(graph, subject, HEALTH.maxTypicalAge) == set()
    # The catalogue's own count is a published fact and stays.
    assert _objects(graph, subject, HEALTH.numberOfRecords) == {_number(2000)}
    assert list(graph.triples((None, None, _number(3)))) == []


def test_dcat_of_a_dataset_never_scanned_has_no_scan_facts(db: None) -> None:
    dataset = _stamp(
        DatasetFactory(contact_name="", contact_email="", contact_phone="", description=""),
        published_at=None,
    )

    graph = _turtle(dataset)

    subject = _subject(dataset)
    for predicate in (
        HEALTH.numberOfUniqueIndividuals,
        HEALTH.minTypicalAge,
        HEALTH.maxTypicalAge,
        DCTERMS.temporal,
        DCTERMS.issued,
    ):
        assert _objects(graph, subject, predicate) == set()
    assert _objects(graph, subject, DCTERMS.description) == {
        Literal(f"위 내시경 데이터셋 (보유기관: {dataset.institution.name})", lang="ko")
    }
    # With no contact person, the contact point is the institution.
    contact = _one(graph, subject, DCAT.contactPoint)
    assert set(graph.predicate_objects(contact)) == {
        (RDF.type, VCARD.Kind),
        (VCARD.fn, Literal(dataset.institution.name)),
    }


def test_a_time_series_dataset_is_in_the_biosignal_category(db: None) -> None:
    dataset = DatasetFactory(body_part=body_part("heart"), modality=modality("ecg"), formats=["WFDB"])

    graph = dataset_dcat_graph(dataset, base_url=BASE)

    category = _one(graph, _subject(dataset), HEALTH.healthCategory)
    assert _objects(graph, category, SKOS.prefLabel) == {
        Literal("생체신호 데이터", lang="ko"),
        Literal("Biosignal data", lang="en"),
    }


@pytest.mark.parametrize(
    "phone, expected",
    [
        ("053-123-4567", {URIRef("tel:+82-53-123-4567")}),
        ("053-123-4567 (내선 12)", {URIRef("tel:+82-53-123-4567")}),
        ("+82 53 123 4567", {URIRef("tel:+82-53-123-4567")}),
        ("이메일로 문의", set()),
    ],
)
def test_the_contact_telephone_is_a_tel_address(colon_ct: Dataset, phone: str, expected: set[URIRef]) -> None:
    _stamp(colon_ct, contact_phone=phone)

    graph = _turtle(colon_ct)

    assert _objects(graph, _one(graph, _subject(colon_ct), DCAT.contactPoint), VCARD.hasTelephone) == expected


def test_formats_are_described_once_each_and_unknown_ones_only_by_name(colon_ct: Dataset) -> None:
    _stamp(colon_ct, formats=["DICOM", "dicom", "판독문"])
    landing = f"{BASE}catalog/{colon_ct.pk}/"

    graph = _turtle(colon_ct)
    croissant = dataset_croissant(colon_ct, base_url=BASE)

    report = URIRef(f"{landing}#distribution-%ED%8C%90%EB%8F%85%EB%AC%B8")
    assert _objects(graph, _subject(colon_ct), DCAT.distribution) == {
        URIRef(f"{landing}#distribution-dicom"),
        report,
    }
    assert set(graph.predicate_objects(report)) == {
        (RDF.type, DCAT.Distribution),
        (DCTERMS.title, Literal("판독문")),
        (
            DCTERMS.description,
            Literal(
                "판독문 파일. 내려받을 수 없으며 협약에 따라 플랫폼의 보안 환경에서만 활용합니다.", lang="ko"
            ),
        ),
        (DCAT.accessURL, URIRef(landing)),
        (DCTERMS.accessRights, NON_PUBLIC),
    }
    # Croissant needs an encoding for every file set: a format it cannot name is left out.
    assert [file_set["@id"] for file_set in croissant["distribution"]] == ["files-dicom"]


@pytest.mark.parametrize("rdf_format, parser", [("json-ld", "json-ld"), ("xml", "xml")])
def test_every_rdf_serialisation_holds_the_same_graph(
    colon_ct: Dataset, rdf_format: str, parser: str
) -> None:
    text = dataset_dcat(colon_ct, base_url=BASE, format=rdf_format)  # type: ignore[arg-type]

    assert isomorphic(Graph().parse(data=text, format=parser), _turtle(colon_ct))


def test_an_unknown_rdf_format_is_refused(colon_ct: Dataset) -> None:
    with pytest.raises(ValueError, match="unknown RDF format: 'n3'"):
        dataset_dcat(colon_ct, base_url=BASE, format="n3")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# Croissant
# ---------------------------------------------------------------------------------------------------------


def _croissant_issues(document: dict[str, Any]) -> tuple[set[str], set[str]]:
    """mlcroissant's errors and warnings for ``document`` (it rewrites what it is given: pass a copy)."""
    context = Context()
    Metadata.from_json(ctx=context, json_=copy.deepcopy(document))
    return context.issues.errors, context.issues.warnings


def test_croissant_validates_with_mlcroissant(colon_ct: Dataset) -> None:
    document = dataset_croissant(colon_ct, base_url=BASE)

    errors, warnings = _croissant_issues(document)

    assert errors == set()
    # The data has no version number; nothing else is missing.
    assert warnings == {
        '[Metadata(대장 CT 영상)] Property "https://schema.org/version" is recommended, but does not exist.'
    }
    # The loader too: it builds its operations from the description without fetching anything.
    dataset = mlcroissant.Dataset(jsonld=copy.deepcopy(document))
    assert dataset.metadata.name == "대장 CT 영상"
    records = list(dataset.records("key_information"))
    assert len(records) == 15
    assert records[0] == {
        "key_information/category": "totals",
        "key_information/value": "patients",
        "key_information/label": "환자",
        "key_information/count": 120,
    }


def test_croissant_describes_the_dataset_and_its_responsible_ai_fields(colon_ct: Dataset) -> None:
    landing = f"{BASE}catalog/{colon_ct.pk}/"

    document = dataset_croissant(colon_ct, base_url=BASE)

    assert document["@type"] == "sc:Dataset"
    assert document["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert {key: document["@context"][key] for key in ("cr", "sc", "dct", "rai")} == {
        "cr": "http://mlcommons.org/croissant/",
        "sc": "https://schema.org/",
        "dct": "http://purl.org/dc/terms/",
        "rai": "http://mlcommons.org/croissant/RAI/",
    }
    assert {key: document[key] for key in ("name", "alternateName", "description", "url", "citeAs")} == {
        "name": "대장 CT 영상",
        "alternateName": "Colon CT images",
        "description": "대장 CT 영상과 판독 소견.",
        "url": landing,
        "citeAs": f"대구가나병원. 대장 CT 영상. 의료데이터 중개 플랫폼, 2025. {landing}",
    }
    assert document["creator"] == {"@type": "sc:Organization", "name": "대구가나병원"}
    assert document["publisher"] == {
        "@type": "sc:Organization",
        "name": "한국산업기술시험원(KTL)",
        "url": BASE,
    }
    assert document["license"] == {
        "@type": "sc:CreativeWork",
        "name": "데이터 이용 협약 (비공개)",
        "description": CLOSED_ROOM_TERMS,
    }
    assert document["datePublished"] == "2025-07-07T09:00:00+09:00"
    assert document["dateModified"] == "2025-08-01T14:30:00+09:00"
    assert document["keywords"] == ["대장", "Colon", "CT"]
    assert {key: value for key, value in document.items() if key.startswith("rai:")} == {
        "rai:dataCollection": (
            "보유기관(대구가나병원)이 진료 과정에서 획득한 대장 CT 데이터를 가명처리하여 구축했습니다."
        ),
        "rai:dataCollectionType": ["Direct measurement", "Secondary Data Analysis"],
        "rai:dataAnnotationProtocol": "병변 위치를 경계 상자로 표시 (영상의학과 전문의 2인 합의)",
        "rai:personalSensitiveInformation": [
            "건강에 관한 정보(개인정보 보호법 제23조의 민감정보)를 가명처리(같은 법 제28조의2)한 데이터입니다.",
            "마지막 스캔(2025-07-30)의 비식별 점검(DICOM PS3.15 Annex E 기준) 결과: 발견 사항 없음.",
        ],
        "rai:dataUseCases": ["의료 인공지능 모델의 학습과 검증 (협약에서 정한 과제의 범위 안에서)"],
        "rai:dataLimitations": [CLOSED_ROOM_TERMS],
    }
    assert document["distribution"] == [
        {
            "@type": "cr:FileSet",
            "@id": "files-dicom",
            "name": "files-dicom",
            "description": "DICOM 파일 (내려받을 수 없음)",
            "encodingFormat": "application/dicom",
            "includes": ["**/*.dcm"],
        },
        {
            "@type": "cr:FileSet",
            "@id": "files-edf",
            "name": "files-edf",
            "description": "EDF 파일 (내려받을 수 없음)",
            "encodingFormat": "https://www.edfplus.info/specs/edf.html",
            "includes": ["**/*.edf"],
        },
    ]


def test_croissant_key_information_keeps_only_what_the_public_page_shows(colon_ct: Dataset) -> None:
    document = dataset_croissant(colon_ct, base_url=BASE)

    (record_set,) = document["recordSet"]
    rows = [
        tuple(row[f"key_information/{name}"] for name in ("category", "value", "count"))
        for row in record_set["data"]
    ]
    # Under k: sex "unknown" (2) and age band 30-39 (3), each hiding the next-smallest cell as well.
    assert rows == [
        ("totals", "patients", 120),
        ("totals", "studies", 130),
        ("totals", "series", 260),
        ("totals", "instances", 5000),
        ("totals", "files", 5003),
        ("modalities", "CT", 5000),
        ("body_parts", "ABDOMEN", 4800),
        ("body_parts", "CHEST", 200),
        ("manufacturers", "SIEMENS", 5000),
        ("models", "SOMATOM Force", 5000),
        ("sex", "M", 61),
        ("age_bands", "40-49", 40),
        ("age_bands", "50-59", 60),
        ("cases", "annotated", 30),
        ("cases", "non_annotated", 100),
    ]


def test_croissant_of_a_dataset_never_scanned_says_so_and_still_validates(db: None) -> None:
    dataset = DatasetFactory(formats=["DICOM"], sensitivity=Sensitivity.LOW, is_illustrative=True)

    document = dataset_croissant(dataset, base_url=BASE)

    assert "recordSet" not in document
    assert "rai:dataAnnotationProtocol" not in document
    assert document["rai:personalSensitiveInformation"][1] == (
        "플랫폼의 비식별 점검(DICOM PS3.15 Annex E 기준)을 아직 거치지 않았습니다."
    )
    assert document["rai:dataLimitations"] == [
        "의료데이터 중개 플랫폼에서 수요 협의와 활용 신청, 평가를 거쳐 협약을 맺은 기업만 이용할 수 있습니다. "
        "협약에서 정하면 SSL-VPN·VDI 접속과 OTP 인증을 거쳐 온라인으로, 또는 KTL 대구센터의 폐쇄형 학습실에서 "
        "활용할 수 있습니다. 데이터 파일은 내려받거나 반출할 수 없습니다.",
        "예시 데이터셋입니다. 공고에 세부 구성이 없어 건수와 구분을 예시로 보여주며, 실제 구성은 수요 데이터 "
        "협의에서 확인합니다.",
    ]
    assert _croissant_issues(document)[0] == set()


# ---------------------------------------------------------------------------------------------------------
# schema.org on the dataset page
# ---------------------------------------------------------------------------------------------------------

JSONLD_SCRIPT = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.DOTALL)


def test_the_dataset_page_embeds_schema_org_json_ld(client: Client, colon_ct: Dataset) -> None:
    landing = f"{BASE}catalog/{colon_ct.pk}/"

    html = client.get(f"/catalog/{colon_ct.pk}/").content.decode()

    (text,) = JSONLD_SCRIPT.findall(html)
    assert json.loads(text) == {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "@id": f"{landing}#dataset",
        "name": "대장 CT 영상",
        "alternateName": "Colon CT images",
        "description": "대장 CT 영상과 판독 소견.",
        "url": landing,
        "identifier": landing,
        "keywords": ["대장", "Colon", "CT"],
        "creator": {"@type": "Organization", "name": "대구가나병원"},
        "provider": {"@type": "Organization", "name": "한국산업기술시험원(KTL)", "url": BASE},
        "measurementTechnique": "CT",
        "isAccessibleForFree": False,
        "conditionsOfAccess": CLOSED_ROOM_TERMS,
        "inLanguage": "ko",
        "datePublished": "2025-07-07T09:00:00+09:00",
        "dateModified": "2025-08-01T14:30:00+09:00",
        "temporalCoverage": "2019-03/2021-11",
        "encodingFormat": ["DICOM", "EDF"],
    }
    assert json.loads(text) == dataset_schema_org(colon_ct, base_url=BASE)


def test_a_title_cannot_close_the_json_ld_script(client: Client, db: None) -> None:
    title = '위 </script><script>alert("x")</script> & 내시경'
    dataset = DatasetFactory(title=title, description="<b>굵게</b>")

    html = client.get(f"/catalog/{dataset.pk}/").content.decode()

    (text,) = JSONLD_SCRIPT.findall(html)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["name"] == title
    assert json.loads(text)["description"] == "<b>굵게</b>"
    assert '<script>alert("x")' not in html


def test_the_dataset_page_links_the_metadata_files(client: Client, colon_ct: Dataset) -> None:
    html = client.get(f"/catalog/{colon_ct.pk}/").content.decode()

    assert "메타데이터 내려받기" in html
    for path in ("dcat.ttl", "dcat.jsonld", "croissant.json"):
        assert f'href="/catalog/{colon_ct.pk}/{path}" download' in html


# ---------------------------------------------------------------------------------------------------------
# Pages and API: who may fetch what
# ---------------------------------------------------------------------------------------------------------

ROLES = ["anonymous", "applicant", "other_applicant", "reviewer", "steward", "operator", "auditor"]
FILES = [
    ("dcat.ttl", "text/turtle; charset=utf-8", "dcat.ttl"),
    ("dcat.jsonld", "application/ld+json", "dcat.jsonld"),
    ("croissant.json", "application/ld+json", "croissant.json"),
]


@pytest.fixture
def steward_draft(steward) -> Dataset:
    return DatasetFactory(
        institution=InstitutionFactory(organisation=steward.organisation),
        title="작성 중인 유방 MRI",
        publication=Dataset.Publication.DRAFT,
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path, content_type, suffix", FILES)
def test_metadata_files_of_a_draft_only_for_its_managers(
    role, path, content_type, suffix, client, login, users_by_role, steward_draft
) -> None:
    login(client, users_by_role[role])
    before = Dataset.objects.values().get(pk=steward_draft.pk)

    response = client.get(f"/catalog/{steward_draft.pk}/{path}")

    if role in ("steward", "operator"):
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert (
            response["Content-Disposition"] == f'attachment; filename="dataset-{steward_draft.pk}-{suffix}"'
        )
        assert "작성 중인 유방 MRI" in response.content.decode()
    else:
        assert response.status_code == 404
        assert "작성 중인 유방 MRI" not in response.content.decode()
    assert Dataset.objects.values().get(pk=steward_draft.pk) == before


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path, content_type, suffix", FILES)
def test_metadata_files_of_a_published_dataset_for_everyone(
    role, path, content_type, suffix, client, login, users_by_role, colon_ct
) -> None:
    login(client, users_by_role[role])

    response = client.get(f"/catalog/{colon_ct.pk}/{path}")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="dataset-{colon_ct.pk}-{suffix}"'


def test_the_files_are_the_exports(client: Client, colon_ct: Dataset) -> None:
    turtle = client.get(f"/catalog/{colon_ct.pk}/dcat.ttl").content.decode()
    jsonld = client.get(f"/catalog/{colon_ct.pk}/dcat.jsonld").content.decode()
    croissant = client.get(f"/catalog/{colon_ct.pk}/croissant.json").json()

    assert isomorphic(Graph().parse(data=turtle, format="turtle"), _turtle(colon_ct))
    assert isomorphic(Graph().parse(data=jsonld, format="json-ld"), _turtle(colon_ct))
    assert croissant == dataset_croissant(colon_ct, base_url=BASE)


def test_metadata_pages_answer_get_only(client: Client, login, operator, colon_ct: Dataset) -> None:
    login(client, operator)

    assert client.post(f"/catalog/{colon_ct.pk}/dcat.ttl").status_code == 405


def test_api_dcat_of_a_published_dataset(client: Client, colon_ct: Dataset) -> None:
    turtle = client.get(f"/api/v1/datasets/{colon_ct.pk}/dcat")
    jsonld = client.get(f"/api/v1/datasets/{colon_ct.pk}/dcat", {"format": "jsonld"})

    assert turtle.status_code == 200
    assert turtle["Content-Type"] == "text/turtle; charset=utf-8"
    assert isomorphic(Graph().parse(data=turtle.content.decode(), format="turtle"), _turtle(colon_ct))
    assert jsonld.status_code == 200
    assert jsonld["Content-Type"] == "application/ld+json"
    assert isomorphic(Graph().parse(data=jsonld.content.decode(), format="json-ld"), _turtle(colon_ct))


def test_api_dcat_refuses_an_unknown_format(client: Client, colon_ct: Dataset) -> None:
    response = client.get(f"/api/v1/datasets/{colon_ct.pk}/dcat", {"format": "n3"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "format"]


def test_api_croissant_of_a_published_dataset(client: Client, colon_ct: Dataset) -> None:
    response = client.get(f"/api/v1/datasets/{colon_ct.pk}/croissant")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/ld+json"
    assert response.json() == dataset_croissant(colon_ct, base_url=BASE)


@pytest.mark.parametrize("path", ["dcat", "dcat?format=jsonld", "croissant"])
@pytest.mark.parametrize("role", ["anonymous", "steward", "operator"])
def test_api_metadata_of_a_draft_is_not_found_even_for_its_managers(
    path, role, client, login, users_by_role, steward_draft
) -> None:
    # The API is the catalogue's public face: it never shows drafts, whoever asks.
    login(client, users_by_role[role])

    response = client.get(f"/api/v1/datasets/{steward_draft.pk}/{path}")

    assert response.status_code == 404
    assert response.json() == {
        "code": "dataset_not_found",
        "message": "공개된 데이터셋 중에 해당 번호가 없습니다.",
        "field": None,
    }


def test_the_exports_are_in_korean_whatever_the_page_language(client: Client, colon_ct: Dataset) -> None:
    _stamp(colon_ct, source_note="2025년 공고 3.1")
    korean = client.get(f"/catalog/{colon_ct.pk}/croissant.json").json()

    client.cookies["django_language"] = "en"
    english_page = client.get(f"/catalog/{colon_ct.pk}/croissant.json").json()

    assert english_page == korean
    assert english_page["rai:dataCollection"].endswith(" 출처: 2025년 공고 3.1")
