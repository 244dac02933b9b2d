"""Interoperable descriptions of a dataset: HealthDCAT-AP (RDF), Croissant 1.0 and schema.org (JSON-LD).

Each export says only what the dataset page already says to anyone who may open it: the catalogue's own
fields, and the scan's key information and case counts as an outsider sees them
(``dataset_key_information_view`` and ``dataset_counts_view`` with no user), so a count under
``MEDBROKER_SMALL_CELL_K``, or one that would give such a count away, is left out rather than written
exactly, and dates go no finer than the month the page shows. No value of one patient or one file is ever
exported.

The data itself is never downloadable: companies use it in the closed learning room, or online where the
agreement allows it. The descriptions therefore carry no download address; their distributions point to
the dataset page, where access is requested.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar
from urllib.parse import quote, urljoin

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from rdflib import BNode, Graph, Namespace, URIRef
from rdflib import Literal as RdfLiteral
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from medbroker.catalog.models import Dataset, DataType
from medbroker.catalog.selectors import (
    KeyInformationView,
    dataset_counts_view,
    dataset_key_information_view,
    dataset_online_use_allowed,
)
from medbroker.core.timeutils import to_kst

HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
# The Data Privacy Vocabulary as HealthDCAT-AP uses it (its examples and SHACL shapes use the w3id.org
# namespace of DPV, and personal-data categories from its dpv-pd extension).
DPV = Namespace("https://w3id.org/dpv#")
DPV_PD = Namespace("https://w3id.org/dpv/dpv-pd#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU_DATA_THEME_HEALTH = URIRef("http://publications.europa.eu/resource/authority/data-theme/HEAL")
# Not public: a company uses the data only in the closed room or through agreed online access.
EU_ACCESS_RIGHT_NON_PUBLIC = URIRef(
    "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC"
)
EU_LANGUAGE_KOREAN = URIRef("http://publications.europa.eu/resource/authority/language/KOR")
EU_COUNTRY_KOREA = URIRef("http://publications.europa.eu/resource/authority/country/KOR")
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"

CROISSANT_CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
# The standard @context of Croissant 1.0; only "@language" differs, as the texts are Korean.
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "ko",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "equivalentProperty": "cr:equivalentProperty",
}

# The platform operator: it publishes the catalogue and, like a health data access body, decides with the
# review committee who may use which data.
PLATFORM_OPERATOR_NAME = "한국산업기술시험원(KTL)"
PLATFORM_OPERATOR_NAME_EN = "Korea Testing Laboratory (KTL)"

DcatFormat = Literal["turtle", "json-ld", "xml"]
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class FileFormat:
    """How one of the catalogue's file formats is named to other systems."""

    key: str
    media_type: str = ""
    eu_file_type: str = ""
    # Croissant's encodingFormat: the media type, or a page defining a format that has none.
    encoding: str = ""
    includes: tuple[str, ...] = ()


_FILE_FORMATS = {
    spec.key: spec
    for spec in (
        FileFormat("DICOM", "application/dicom", "", "application/dicom", ("**/*.dcm",)),
        FileFormat("DICOM-ECG", "application/dicom", "", "application/dicom", ("**/*.dcm",)),
        FileFormat("JPEG", "image/jpeg", "JPEG", "image/jpeg", ("**/*.jpg", "**/*.jpeg")),
        FileFormat("PNG", "image/png", "PNG", "image/png", ("**/*.png",)),
        FileFormat("TIFF", "image/tiff", "TIFF", "image/tiff", ("**/*.tif", "**/*.tiff")),
        FileFormat("CSV", "text/csv", "CSV", "text/csv", ("**/*.csv",)),
        FileFormat("JSON", "application/json", "JSON", "application/json", ("**/*.json",)),
        FileFormat("XML", "application/xml", "XML", "application/xml", ("**/*.xml",)),
        # Signal formats without a registered media type: Croissant takes the page that defines them.
        FileFormat("EDF", "", "", "https://www.edfplus.info/specs/edf.html", ("**/*.edf",)),
        FileFormat("EDF+", "", "", "https://www.edfplus.info/specs/edfplus.html", ("**/*.edf",)),
        FileFormat("BDF", "", "", "https://www.biosemi.com/faq/file_format.htm", ("**/*.bdf",)),
        FileFormat("BDF+", "", "", "https://www.biosemi.com/faq/file_format.htm", ("**/*.bdf",)),
        FileFormat(
            "WFDB", "", "", "https://physionet.org/physiotools/wag/header-5.htm", ("**/*.hea", "**/*.dat")
        ),
    )
}


def _file_format(name: str) -> FileFormat:
    return _FILE_FORMATS.get(name.strip().upper(), FileFormat(name.strip()))


def _formats(dataset: Dataset) -> list[FileFormat]:
    specs = [_file_format(str(name)) for name in dataset.formats or [] if str(name).strip()]
    return list({spec.key.upper(): spec for spec in specs}.values())


def _slug(text: str) -> str:
    # A format named in Korean has no ASCII letters: its percent-encoded name keeps the fragment unique.
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or quote(text, safe="")


# ---------------------------------------------------------------------------------------------------------
# Facts shared by the three descriptions
# ---------------------------------------------------------------------------------------------------------


def _in_korean(build: Callable[P, R]) -> Callable[P, R]:
    """Build in Korean whatever the page's language: the texts are tagged "ko" (and Croissant's @language
    is "ko"), and a harvester should get the same description from every visitor's link."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translation.override("ko"):
            return build(*args, **kwargs)

    return wrapper


def dataset_landing_url(dataset: Dataset, *, base_url: str) -> str:
    """The dataset page as an absolute address (``base_url`` is the platform's root, e.g. from
    ``request.build_absolute_uri("/")``)."""
    return urljoin(base_url, reverse("catalog:dataset_detail", args=[dataset.pk]))


def _public_view(dataset: Dataset) -> KeyInformationView | None:
    # No user: the view an anonymous visitor gets, small cells suppressed.
    return dataset_key_information_view(dataset=dataset, user=None)


def _public_total(view: KeyInformationView | None, key: str) -> int | None:
    """A total of the scan when it is shown exactly to everyone and is not zero."""
    if view is None:
        return None
    cell = next((cell for cell in view.totals if cell.key == key), None)
    return cell.count if cell is not None and cell.count else None


def _age_band_bounds(band: str) -> tuple[int, int | None] | None:
    """("40-49" → (40, 49), "90+" → (90, None)); None for "unknown" or anything else."""
    match = re.fullmatch(r"(\d+)(?:-(\d+)|\+)", band)
    if match is None:
        return None
    return int(match[1]), int(match[2]) if match[2] else None


def _typical_ages(view: KeyInformationView | None) -> tuple[int | None, int | None]:
    """HealthDCAT-AP's "typical" ages: from the youngest to the oldest age band the public page shows with
    a count (a shown count is at least k). No maximum when the oldest such band is "90+".

    Bands the page hides are left out even when they are large: that a hidden band holds at least k
    patients is a bound the page does not give, and beside the total it can pin the small bands down
    (7 patients, a hidden band of 5 or more: the two hidden bands "< 5" beside it are 1 and 1)."""
    distribution = view.distribution("age_bands") if view is not None else None
    if distribution is None:
        return None, None
    typical = sorted(
        bounds
        for cell in distribution.cells
        if cell.count and (bounds := _age_band_bounds(cell.key)) is not None
    )
    if not typical:
        return None, None
    return typical[0][0], typical[-1][1]


def _months(view: KeyInformationView | None) -> tuple[str, str]:
    if view is None or not (re.fullmatch(r"\d{4}-\d{2}", view.date_first or "")):
        return "", ""
    last = view.date_last if re.fullmatch(r"\d{4}-\d{2}", view.date_last or "") else view.date_first
    return view.date_first, last


def _keyword_texts(dataset: Dataset) -> list[str]:
    """The keywords without their languages, once each ("CT" is the same word in both)."""
    return list(dict.fromkeys(text for text, _language in _keywords(dataset)))


def _keywords(dataset: Dataset) -> list[tuple[str, str]]:
    """(text, language) pairs: the body part and the modality in Korean and English."""
    pairs = [
        (dataset.body_part.name, "ko"),
        (dataset.body_part.name_en, "en"),
        (dataset.modality.name, "ko"),
        (dataset.modality.name_en, "en"),
    ]
    return [(text, language) for text, language in dict.fromkeys(pairs) if text]


def _description(dataset: Dataset) -> str:
    if dataset.description.strip():
        return dataset.description.strip()
    return _("%(body_part)s %(modality)s 데이터셋 (보유기관: %(institution)s)") % {
        "institution": dataset.institution.name,
        "body_part": dataset.body_part.name,
        "modality": dataset.modality.name,
    }


def _access_conditions(dataset: Dataset) -> str:
    if dataset_online_use_allowed(dataset):
        where = _(
            "협약에서 정하면 SSL-VPN·VDI 접속과 OTP 인증을 거쳐 온라인으로, 또는 KTL 대구센터의 폐쇄형 "
            "학습실에서 활용할 수 있습니다."
        )
    else:
        where = _("KTL 대구센터의 보안 환경인 폐쇄형 학습실에서만 활용할 수 있습니다.")
    return " ".join(
        [
            _(
                "의료데이터 중개 플랫폼에서 수요 협의와 활용 신청, 평가를 거쳐 협약을 맺은 기업만 "
                "이용할 수 있습니다."
            ),
            str(where),
            _("데이터 파일은 내려받거나 반출할 수 없습니다."),
        ]
    )


def _iso_kst(value: dt.datetime | None) -> str | None:
    return to_kst(value).replace(microsecond=0).isoformat() if value else None


# ---------------------------------------------------------------------------------------------------------
# HealthDCAT-AP
# ---------------------------------------------------------------------------------------------------------


def _agent(graph: Graph, *, name: str, name_en: str, homepage: str = "") -> BNode:
    agent = BNode()
    graph.add((agent, RDF.type, FOAF.Agent))
    graph.add((agent, RDF.type, FOAF.Organization))
    graph.add((agent, FOAF.name, RdfLiteral(name, lang="ko")))
    if name_en:
        graph.add((agent, FOAF.name, RdfLiteral(name_en, lang="en")))
    if homepage:
        graph.add((agent, FOAF.homepage, URIRef(homepage)))
    return agent


def _telephone_uri(phone: str) -> str:
    """A tel: address (RFC 3966) of a Korean number as stored ("053-123-4567" → "tel:+82-53-123-4567").

    Only the first number in the text: "053-123-4567 (내선 12)" must not run the extension into it."""
    match = re.search(r"\+?\d[\d -]{5,}\d", phone)
    if match is None:
        return ""
    number = re.sub(r"[ -]+", "-", match.group())
    if number.startswith("0"):
        number = "+82-" + number[1:]
    elif not number.startswith("+"):
        return ""
    return f"tel:{number}"


def _contact_point(graph: Graph, dataset: Dataset) -> BNode:
    contact = BNode()
    graph.add((contact, RDF.type, VCARD.Kind))
    graph.add((contact, VCARD.fn, RdfLiteral(dataset.contact_name or dataset.institution.name)))
    if dataset.contact_email:
        graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{dataset.contact_email}")))
    if dataset.contact_phone and (telephone := _telephone_uri(dataset.contact_phone)):
        graph.add((contact, VCARD.hasTelephone, URIRef(telephone)))
    return contact


def _health_category(graph: Graph, dataset: Dataset) -> BNode:
    # A concept with labels rather than an IRI: HealthDCAT-AP's category list is still being settled, and an
    # address we cannot vouch for would mislead a harvester more than a label does.
    category = BNode()
    graph.add((category, RDF.type, SKOS.Concept))
    if dataset.data_type == DataType.TIME_SERIES:
        labels = (("생체신호 데이터", "ko"), ("Biosignal data", "en"))
    else:
        labels = (("의료영상 데이터", "ko"), ("Medical imaging data", "en"))
    for text, language in labels:
        graph.add((category, SKOS.prefLabel, RdfLiteral(text, lang=language)))
    return category


def _distributions(graph: Graph, dataset: Dataset, *, landing: str) -> Iterator[URIRef]:
    for spec in _formats(dataset):
        distribution = URIRef(f"{landing}#distribution-{_slug(spec.key)}")
        graph.add((distribution, RDF.type, DCAT.Distribution))
        graph.add((distribution, DCTERMS.title, RdfLiteral(spec.key)))
        graph.add(
            (
                distribution,
                DCTERMS.description,
                RdfLiteral(
                    _("%(format)s 파일. 내려받을 수 없으며 협약에 따라 플랫폼의 보안 환경에서만 활용합니다.")
                    % {"format": spec.key},
                    lang="ko",
                ),
            )
        )
        # Where access is requested (DCAT-AP requires an access URL); there is deliberately no downloadURL.
        graph.add((distribution, DCAT.accessURL, URIRef(landing)))
        graph.add((distribution, DCTERMS.accessRights, EU_ACCESS_RIGHT_NON_PUBLIC))
        if spec.media_type:
            graph.add((distribution, DCAT.mediaType, URIRef(IANA_MEDIA_TYPES + spec.media_type)))
        if spec.eu_file_type:
            graph.add((distribution, DCTERMS["format"], URIRef(EU_FILE_TYPE + spec.eu_file_type)))
        elif spec.media_type:
            graph.add((distribution, DCTERMS["format"], URIRef(IANA_MEDIA_TYPES + spec.media_type)))
        yield distribution


@_in_korean
def dataset_dcat_graph(dataset: Dataset, *, base_url: str) -> Graph:
    """The dataset as a HealthDCAT-AP ``dcat:Dataset`` (DCAT-AP with the health extension of the EHDS)."""
    graph = Graph()
    for prefix, namespace in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("vcard", VCARD),
        ("skos", SKOS),
        ("xsd", XSD),
        ("healthdcatap", HEALTHDCATAP),
        ("dpv", DPV),
        ("dpv-pd", DPV_PD),
    ):
        graph.bind(prefix, namespace, override=True)

    landing = dataset_landing_url(dataset, base_url=base_url)
    subject = URIRef(f"{landing}#dataset")
    view = _public_view(dataset)
    institution = dataset.institution
    add = graph.add

    add((subject, RDF.type, DCAT.Dataset))
    add((subject, DCTERMS.identifier, RdfLiteral(landing)))
    add((subject, DCTERMS.title, RdfLiteral(dataset.title, lang="ko")))
    if dataset.title_en:
        add((subject, DCTERMS.title, RdfLiteral(dataset.title_en, lang="en")))
    add((subject, DCTERMS.description, RdfLiteral(_description(dataset), lang="ko")))
    add(
        (
            subject,
            DCTERMS.publisher,
            _agent(graph, name=institution.name, name_en=institution.organisation.name_en),
        )
    )
    add((subject, DCAT.contactPoint, _contact_point(graph, dataset)))
    add((subject, DCAT.theme, EU_DATA_THEME_HEALTH))
    for text, language in _keywords(dataset):
        add((subject, DCAT.keyword, RdfLiteral(text, lang=language)))
    if dataset.published_at:
        add((subject, DCTERMS.issued, RdfLiteral(_iso_kst(dataset.published_at), datatype=XSD.dateTime)))
    if dataset.updated_at:
        add((subject, DCTERMS.modified, RdfLiteral(_iso_kst(dataset.updated_at), datatype=XSD.dateTime)))
    add((subject, DCAT.landingPage, URIRef(landing)))
    add((subject, DCTERMS.accessRights, EU_ACCESS_RIGHT_NON_PUBLIC))
    rights = BNode()
    add((subject, DCTERMS.rights, rights))
    add((rights, RDF.type, DCTERMS.RightsStatement))
    add((rights, RDFS.label, RdfLiteral(_access_conditions(dataset), lang="ko")))
    add((subject, DCTERMS.language, EU_LANGUAGE_KOREAN))
    add((subject, DCTERMS.spatial, EU_COUNTRY_KOREA))
    for distribution in _distributions(graph, dataset, landing=landing):
        add((subject, DCAT.distribution, distribution))

    # HealthDCAT-AP. The case count as the dataset page shows it to anyone: left out when suppressed.
    records = dataset_counts_view(dataset=dataset, user=None).total.count
    if records is not None:
        add((subject, HEALTHDCATAP.numberOfRecords, RdfLiteral(records, datatype=XSD.nonNegativeInteger)))
    if patients := _public_total(view, "patients"):
        add(
            (
                subject,
                HEALTHDCATAP.numberOfUniqueIndividuals,
                RdfLiteral(patients, datatype=XSD.nonNegativeInteger),
            )
        )
    low, high = _typical_ages(view)
    if low is not None:
        add((subject, HEALTHDCATAP.minTypicalAge, RdfLiteral(low, datatype=XSD.nonNegativeInteger)))
    if high is not None:
        add((subject, HEALTHDCATAP.maxTypicalAge, RdfLiteral(high, datatype=XSD.nonNegativeInteger)))
    add((subject, HEALTHDCATAP.healthCategory, _health_category(graph, dataset)))
    add(
        (
            subject,
            HEALTHDCATAP.hdab,
            _agent(graph, name=PLATFORM_OPERATOR_NAME, name_en=PLATFORM_OPERATOR_NAME_EN, homepage=base_url),
        )
    )
    first, last = _months(view)
    if first:
        period = BNode()
        add((subject, DCTERMS.temporal, period))
        add((period, RDF.type, DCTERMS.PeriodOfTime))
        add((period, DCAT.startDate, RdfLiteral(first, datatype=XSD.gYearMonth)))
        add((period, DCAT.endDate, RdfLiteral(last, datatype=XSD.gYearMonth)))

    # Personal data: pseudonymised health records (special-category data), reused for AI development.
    add((subject, DPV.hasPersonalData, DPV_PD.HealthRecord))
    add((subject, DPV.hasPersonalData, DPV.PseudonymisedData))
    add((subject, DPV.hasPersonalData, DPV.SpecialCategoryPersonalData))
    add((subject, DPV.hasPurpose, DPV.ResearchAndDevelopment))
    return graph


_RDF_FORMATS = {"turtle": "turtle", "json-ld": "json-ld", "xml": "pretty-xml"}


def dataset_dcat(dataset: Dataset, *, base_url: str, format: DcatFormat = "turtle") -> str:
    """The HealthDCAT-AP description serialised as Turtle, JSON-LD or RDF/XML."""
    if format not in _RDF_FORMATS:
        raise ValueError(f"unknown RDF format: {format!r}")
    graph = dataset_dcat_graph(dataset, base_url=base_url)
    if format == "json-ld":
        context = {prefix: str(namespace) for prefix, namespace in graph.namespaces() if prefix}
        return graph.serialize(format="json-ld", context=context, indent=2, auto_compact=True)
    return graph.serialize(format=_RDF_FORMATS[format])


# ---------------------------------------------------------------------------------------------------------
# Croissant 1.0
# ---------------------------------------------------------------------------------------------------------


def _organisation_json(name: str, url: str = "") -> dict[str, Any]:
    organisation: dict[str, Any] = {"@type": "sc:Organization", "name": name}
    if url:
        organisation["url"] = url
    return organisation


def _deidentification_text(dataset: Dataset) -> str:
    if dataset.scanned_at is None:
        return _("플랫폼의 비식별 점검(DICOM PS3.15 Annex E 기준)을 아직 거치지 않았습니다.")
    return _("마지막 스캔(%(date)s)의 비식별 점검(DICOM PS3.15 Annex E 기준) 결과: %(state)s.") % {
        "date": to_kst(dataset.scanned_at).date().isoformat(),
        "state": dataset.get_deidentification_display(),
    }


def _rai_fields(dataset: Dataset) -> dict[str, Any]:
    collection = _(
        "보유기관(%(institution)s)이 진료 과정에서 획득한 %(body_part)s %(modality)s 데이터를 가명처리하여 "
        "구축했습니다."
    ) % {
        "institution": dataset.institution.name,
        "body_part": dataset.body_part.name,
        "modality": dataset.modality.name,
    }
    if dataset.source_note:
        collection = f"{collection} {_('출처')}: {dataset.source_note}"
    limitations = [_access_conditions(dataset)]
    if dataset.is_illustrative:
        limitations.append(
            _(
                "예시 데이터셋입니다. 공고에 세부 구성이 없어 건수와 구분을 예시로 보여주며, 실제 구성은 수요 데이터 협의에서 확인합니다."
            )
        )
    fields: dict[str, Any] = {
        "rai:dataCollection": collection,
        # Acquired by imaging or recording devices in routine care, and reused here for AI development.
        "rai:dataCollectionType": ["Direct measurement", "Secondary Data Analysis"],
        "rai:personalSensitiveInformation": [
            _(
                "건강에 관한 정보(개인정보 보호법 제23조의 민감정보)를 가명처리(같은 법 제28조의2)한 데이터입니다."
            ),
            _deidentification_text(dataset),
        ],
        "rai:dataUseCases": [_("의료 인공지능 모델의 학습과 검증 (협약에서 정한 과제의 범위 안에서)")],
        "rai:dataLimitations": limitations,
    }
    if dataset.annotation_description.strip():
        fields["rai:dataAnnotationProtocol"] = dataset.annotation_description.strip()
    return fields


def _croissant_file_sets(dataset: Dataset) -> list[dict[str, Any]]:
    return [
        {
            "@type": "cr:FileSet",
            "@id": f"files-{_slug(spec.key)}",
            "name": f"files-{_slug(spec.key)}",
            "description": _("%(format)s 파일 (내려받을 수 없음)") % {"format": spec.key},
            "encodingFormat": spec.encoding,
            "includes": list(spec.includes),
        }
        for spec in _formats(dataset)
        if spec.encoding and spec.includes
    ]


_KEY_INFORMATION_FIELDS = ("category", "value", "label", "count")


def _croissant_key_information(view: KeyInformationView | None) -> list[dict[str, Any]]:
    """The scan's aggregated key information as an inline record set: one row per count shown exactly."""
    if view is None:
        return []
    rows: list[dict[str, Any]] = []
    for cell in view.totals:
        if cell.count:
            rows.append({"category": "totals", "value": cell.key, "label": cell.label, "count": cell.count})
    for distribution in [*view.distributions, view.cases]:
        for cell in distribution.cells:
            if cell.count:
                rows.append(
                    {
                        "category": distribution.name,
                        "value": cell.key,
                        "label": cell.label,
                        "count": cell.count,
                    }
                )
    if not rows:
        return []
    record_set = "key_information"
    types = {"category": "sc:Text", "value": "sc:Text", "label": "sc:Text", "count": "sc:Integer"}
    descriptions = {
        "category": _("항목 묶음 (totals, modalities, body_parts, sex, age_bands 등)"),
        "value": _("값의 코드"),
        "label": _("값의 이름"),
        "count": _("건수 또는 환자 수"),
    }
    return [
        {
            "@type": "cr:RecordSet",
            "@id": record_set,
            "name": record_set,
            "description": _(
                "마지막 스캔에서 집계한 주요 정보. 공개 화면과 같이 작은 수(%(k)d 미만)와 그 수를 거꾸로 "
                "계산할 수 있는 수는 빠져 있습니다."
            )
            % {"k": view.k},
            "key": [{"@id": f"{record_set}/category"}, {"@id": f"{record_set}/value"}],
            "field": [
                {
                    "@type": "cr:Field",
                    "@id": f"{record_set}/{name}",
                    "name": name,
                    "description": descriptions[name],
                    "dataType": types[name],
                }
                for name in _KEY_INFORMATION_FIELDS
            ],
            "data": [{f"{record_set}/{name}": row[name] for name in _KEY_INFORMATION_FIELDS} for row in rows],
        }
    ]


@_in_korean
def dataset_croissant(dataset: Dataset, *, base_url: str) -> dict[str, Any]:
    """The dataset as Croissant 1.0 JSON-LD with its responsible-AI (RAI) fields."""
    landing = dataset_landing_url(dataset, base_url=base_url)
    institution = dataset.institution
    published = to_kst(dataset.published_at) if dataset.published_at else None
    document: dict[str, Any] = {
        "@context": copy.deepcopy(CROISSANT_CONTEXT),
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_CONFORMS_TO,
        "name": dataset.title,
        "description": _description(dataset),
        "url": landing,
        "citeAs": f"{institution.name}. {dataset.title}. {_('의료데이터 중개 플랫폼')}"
        + (f", {published.year}" if published else "")
        + f". {landing}",
        # No public licence: use is governed by the agreement each company signs.
        "license": {
            "@type": "sc:CreativeWork",
            "name": _("데이터 이용 협약 (비공개)"),
            "description": _access_conditions(dataset),
        },
        "creator": _organisation_json(institution.name),
        "publisher": _organisation_json(PLATFORM_OPERATOR_NAME, base_url),
        "keywords": _keyword_texts(dataset),
        "inLanguage": "ko",
    }
    if dataset.title_en:
        document["alternateName"] = dataset.title_en
    if published:
        document["datePublished"] = published.replace(microsecond=0).isoformat()
    if dataset.updated_at:
        document["dateModified"] = _iso_kst(dataset.updated_at)
    document.update(_rai_fields(dataset))
    document["distribution"] = _croissant_file_sets(dataset)
    record_sets = _croissant_key_information(_public_view(dataset))
    if record_sets:
        document["recordSet"] = record_sets
    return document


# ---------------------------------------------------------------------------------------------------------
# schema.org
# ---------------------------------------------------------------------------------------------------------


@_in_korean
def dataset_schema_org(dataset: Dataset, *, base_url: str) -> dict[str, Any]:
    """The dataset as schema.org ``Dataset`` JSON-LD, for search engines reading the dataset page."""
    landing = dataset_landing_url(dataset, base_url=base_url)
    institution = dataset.institution
    document: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "@id": f"{landing}#dataset",
        "name": dataset.title,
        "description": _description(dataset),
        "url": landing,
        "identifier": landing,
        "keywords": _keyword_texts(dataset),
        "creator": {"@type": "Organization", "name": institution.name},
        "provider": {"@type": "Organization", "name": PLATFORM_OPERATOR_NAME, "url": base_url},
        "measurementTechnique": dataset.modality.name_en or dataset.modality.name,
        "isAccessibleForFree": False,
        "conditionsOfAccess": _access_conditions(dataset),
        "inLanguage": "ko",
    }
    if dataset.title_en:
        document["alternateName"] = dataset.title_en
    if dataset.published_at:
        document["datePublished"] = _iso_kst(dataset.published_at)
    if dataset.updated_at:
        document["dateModified"] = _iso_kst(dataset.updated_at)
    first, last = _months(_public_view(dataset))
    if first:
        document["temporalCoverage"] = f"{first}/{last}"
    if formats := [spec.key for spec in _formats(dataset)]:
        document["encodingFormat"] = formats
    return document
