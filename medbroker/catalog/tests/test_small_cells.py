"""Small-cell suppression of a scanned dataset's counts wherever they reach those who do not manage it: the
scan card's distributions, the case counts on the dataset page and in the catalogue list, the public API,
the metadata exports and the order of the sorted list."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.test import Client
from rdflib import Graph, Literal, Namespace

from medbroker.accounts.models import Role, User
from medbroker.accounts.tests.factories import InstitutionOrganisationFactory, UserFactory
from medbroker.catalog.metadata import dataset_croissant, dataset_dcat
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import (
    dataset_counts_view,
    dataset_key_information_view,
    datasets_with_count_order,
)
from medbroker.catalog.tests.factories import DatasetFactory, InstitutionFactory, body_part, modality

pytestmark = pytest.mark.django_db

SCANNED_AT = dt.datetime(2025, 3, 4, 1, 30, tzinfo=dt.UTC)
HEALTH = Namespace("http://healthdataportal.eu/ns/health#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
BASE = "http://testserver/"
OUTSIDERS = ["anonymous", "applicant", "other_applicant", "reviewer"]
INSIDERS = ["steward", "operator", "auditor"]


def _summary(**values: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "files": 40,
        "instances": 40,
        "patients": 12,
        "studies": 12,
        "series": 12,
        "modalities": {"CT": 40},
        "body_parts": {"ABDOMEN": 40},
        "manufacturers": {},
        "models": {},
        "signals": {"records": 0, "formats": {}},
        "acquisition": {},
        "sex": {"M": 10, "F": 1, "O": 0, "unknown": 1},
        "age_bands": {"50-59": 6, "60-69": 6},
        "date_range": None,
        "cases": {"total": 24, "annotated": 3, "non_annotated": 21},
    }
    summary.update(values)
    return summary


@pytest.fixture
def scanned(steward: User) -> Dataset:
    return DatasetFactory(
        institution=InstitutionFactory(organisation=steward.organisation),
        title="복부 CT 영상",
        annotated_count=3,
        non_annotated_count=21,
        scan_summary=_summary(),
        scanned_at=SCANNED_AT,
    )


def _view(dataset: Dataset, user: User | None = None) -> Any:
    view = dataset_key_information_view(dataset=dataset, user=user)
    assert view is not None
    return view


def _cells(view: Any, name: str) -> list[tuple[str, str]]:
    distribution = view.cases if name == "cases" else view.distribution(name)
    return [(cell.key, cell.display) for cell in distribution.cells]


def _totals(view: Any) -> dict[str, str]:
    return {cell.key: cell.display for cell in view.totals}


def _counts(dataset: Dataset, user: User | None = None) -> tuple[str, str, str]:
    counts = dataset_counts_view(dataset=dataset, user=user)
    return counts.annotated.display, counts.non_annotated.display, counts.total.display


# ---------------------------------------------------------------------------------------------------------
# The rule, on the scan card's distributions
# ---------------------------------------------------------------------------------------------------------


def test_two_small_cells_that_add_up_to_under_k_hide_the_next_smallest_cell(scanned: Dataset) -> None:
    # M=10, F=1, O=0, unknown=1 beside 12 patients: hiding F and unknown alone leaves them 12 - 10 = 2.
    view = _view(scanned)

    assert _cells(view, "sex") == [("M", "비공개"), ("F", "< 5"), ("O", "0"), ("unknown", "< 5")]
    assert _totals(view)["patients"] == "12"
    # Nothing is left to chart: the zero alone says nothing.
    assert view.chart_data["sex"] == {"labels": [], "counts": []}


def test_one_small_cell_hides_the_next_smallest_one(scanned: Dataset) -> None:
    scanned.scan_summary = _summary(modalities={"CT": 30, "MR": 7, "US": 3})

    view = _view(scanned)

    assert _cells(view, "modalities") == [("CT", "30"), ("MR", "비공개"), ("US", "< 5")]
    assert view.chart_data["modalities"] == {"labels": ["CT"], "counts": [30]}
    assert _totals(view)["instances"] == "40"


def test_small_cells_that_add_up_to_k_or_more_protect_each_other(scanned: Dataset) -> None:
    scanned.scan_summary = _summary(sex={"M": 7, "F": 4, "O": 0, "unknown": 1})

    view = _view(scanned)

    assert _cells(view, "sex") == [("M", "7"), ("F", "< 5"), ("O", "0"), ("unknown", "< 5")]
    assert view.chart_data["sex"] == {"labels": ["남성"], "counts": [7]}


def test_small_cells_pinned_by_their_bounds_hide_the_next_smallest_cell(scanned: Dataset) -> None:
    # Two cells "< 5" beside 15 - 7 = 8 can only be 4 and 4.
    scanned.scan_summary = _summary(patients=15, sex={"M": 7, "F": 4, "O": 0, "unknown": 4})

    view = _view(scanned)

    assert _cells(view, "sex") == [("M", "비공개"), ("F", "< 5"), ("O", "0"), ("unknown", "< 5")]
    assert _totals(view)["patients"] == "15"


def test_when_every_cell_is_small_the_total_is_hidden_too(scanned: Dataset) -> None:
    scanned.scan_summary = _summary(
        patients=4, sex={"M": 2, "F": 1, "O": 0, "unknown": 1}, age_bands={"60-69": 3, "70-79": 1}
    )

    view = _view(scanned)

    assert _cells(view, "sex") == [("M", "< 5"), ("F", "< 5"), ("O", "0"), ("unknown", "< 5")]
    assert _cells(view, "age_bands") == [("60-69", "< 5"), ("70-79", "< 5")]
    assert _totals(view)["patients"] == "< 5"
    assert view.chart_data["sex"] == {"labels": [], "counts": []}
    assert view.chart_data["age_bands"] == {"labels": [], "counts": []}


def test_a_total_that_still_pins_the_hidden_cells_is_hidden_with_them(scanned: Dataset) -> None:
    # M is hidden to protect F and unknown, yet M >= 5 beside 7 patients still leaves F = unknown = 1. The
    # total goes, and the age bands (all 7 in one band) would give it back: that band goes as well.
    scanned.scan_summary = _summary(
        patients=7, sex={"M": 5, "F": 1, "O": 0, "unknown": 1}, age_bands={"50-59": 0, "60-69": 7}
    )

    view = _view(scanned)

    assert _cells(view, "sex") == [("M", "비공개"), ("F", "< 5"), ("O", "0"), ("unknown", "< 5")]
    assert _totals(view)["patients"] == "비공개"
    assert _cells(view, "age_bands") == [("50-59", "0"), ("60-69", "비공개")]
    assert _totals(view)["studies"] == "12"


def test_a_distribution_short_of_its_total_leaves_the_total_shown(scanned: Dataset) -> None:
    # Two files have no modality: the total does not give the hidden cells' sum.
    scanned.scan_summary = _summary(modalities={"CT": 3, "MR": 3})

    view = _view(scanned, None)

    assert _cells(view, "modalities") == [("CT", "< 5"), ("MR", "< 5")]
    assert _totals(view)["instances"] == "40"


def test_k_from_the_settings_applies_to_the_whole_rule(scanned: Dataset, settings: Any) -> None:
    settings.MEDBROKER_SMALL_CELL_K = 11

    view = _view(scanned)

    assert _cells(view, "sex") == [("M", "< 11"), ("F", "< 11"), ("O", "0"), ("unknown", "< 11")]
    assert _totals(view)["patients"] == "12"
    assert _counts(scanned) == ("< 11", "비공개", "24")


@pytest.mark.parametrize("role", INSIDERS)
def test_those_who_manage_or_audit_see_every_cell(
    scanned: Dataset, users_by_role: dict[str, User | None], role: str
) -> None:
    view = _view(scanned, users_by_role[role])

    assert _cells(view, "sex") == [("M", "10"), ("F", "1"), ("O", "0"), ("unknown", "1")]
    assert view.chart_data["sex"] == {"labels": ["남성", "여성", "알 수 없음"], "counts": [10, 1, 1]}


def test_croissant_carries_exactly_the_cells_the_charts_and_tables_show(scanned: Dataset) -> None:
    scanned.scan_summary = _summary(
        modalities={"CT": 30, "MR": 7, "US": 3}, age_bands={"40-49": 2, "50-59": 6, "60-69": 4}
    )
    scanned.save(update_fields=["scan_summary"])
    view = _view(scanned)

    document = dataset_croissant(scanned, base_url=BASE)

    (record_set,) = document["recordSet"]
    rows = {}
    for row in record_set["data"]:
        rows.setdefault(row["key_information/category"], []).append(
            (row["key_information/value"], row["key_information/count"])
        )
    assert rows == {
        "totals": [("patients", 12), ("studies", 12), ("series", 12), ("instances", 40), ("files", 40)],
        "modalities": [("CT", 30)],
        "body_parts": [("ABDOMEN", 40)],
        "age_bands": [("50-59", 6)],
    }
    for name in ("modalities", "age_bands", "sex", "body_parts"):
        chart = view.chart_data[name]
        charted = [(key, count) for key, count in zip(chart["labels"], chart["counts"], strict=True) if count]
        shown = [(cell.label, cell.count) for cell in view.distribution(name).cells if cell.count]
        assert charted == shown, name
    assert view.chart_data["age_bands"]["labels"] == ["50–59세"]


# ---------------------------------------------------------------------------------------------------------
# Case counts: annotated / non-annotated / total
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotated", "non_annotated", "expected"),
    [
        # One small cell hides the other, or the total would give it away.
        (3, 21, ("< 5", "비공개", "24")),
        (21, 3, ("비공개", "< 5", "24")),
        # A zero is shown; the total is then the small cell itself, and hidden.
        (3, 0, ("< 5", "0", "< 5")),
        (0, 0, ("0", "0", "0")),
        (0, 21, ("0", "21", "21")),
        (5, 21, ("5", "21", "26")),
        # Both small: the total is shown where it leaves them more than one value each.
        (3, 4, ("< 5", "< 5", "7")),
        (1, 1, ("< 5", "< 5", "< 5")),
        # 4 and 4 beside 8, or 1 and 5 beside 6, are the only ways to make the total: it goes too.
        (4, 4, ("< 5", "< 5", "비공개")),
        (1, 5, ("< 5", "비공개", "비공개")),
        (2, 5, ("< 5", "비공개", "7")),
    ],
)
def test_case_counts_of_a_scanned_dataset_for_outsiders(
    scanned: Dataset, applicant: User, annotated: int, non_annotated: int, expected: tuple[str, str, str]
) -> None:
    Dataset.objects.filter(pk=scanned.pk).update(annotated_count=annotated, non_annotated_count=non_annotated)
    scanned.refresh_from_db()

    assert _counts(scanned, applicant) == expected
    assert _counts(scanned, None) == expected
    counts = dataset_counts_view(dataset=scanned, user=applicant)
    assert counts.suppressed is ("< 5" in expected or "비공개" in expected)


@pytest.mark.parametrize("role", INSIDERS)
def test_case_counts_are_exact_for_those_who_manage_or_audit(
    scanned: Dataset, users_by_role: dict[str, User | None], role: str
) -> None:
    counts = dataset_counts_view(dataset=scanned, user=users_by_role[role])

    assert (counts.annotated.count, counts.non_annotated.count, counts.total.count) == (3, 21, 24)
    assert counts.suppressed is False


def test_the_steward_of_another_institution_gets_the_suppressed_counts(scanned: Dataset) -> None:
    other = UserFactory(organisation=InstitutionOrganisationFactory(), roles=[Role.DATA_STEWARD])

    assert _counts(scanned, other) == ("< 5", "비공개", "24")


def test_counts_never_scanned_are_the_calls_table_for_everyone(applicant: User) -> None:
    dataset = DatasetFactory(annotated_count=3, non_annotated_count=21)

    counts = dataset_counts_view(dataset=dataset, user=applicant)

    assert _counts(dataset, applicant) == ("3", "21", "24")
    assert counts.suppressed is False


def test_the_scan_card_and_the_counts_card_agree(scanned: Dataset, applicant: User) -> None:
    Dataset.objects.filter(pk=scanned.pk).update(annotated_count=4, non_annotated_count=4)
    scanned.refresh_from_db()
    scanned.scan_summary = _summary(cases={"total": 8, "annotated": 4, "non_annotated": 4})

    view = _view(scanned, applicant)

    assert _cells(view, "cases") == [("annotated", "< 5"), ("non_annotated", "< 5")]
    assert _counts(scanned, applicant) == ("< 5", "< 5", "비공개")


# ---------------------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------------------


def _counts_card(html: str) -> list[str]:
    start = html.index('aria-labelledby="dataset-counts-title"')
    card = html[start : html.index("</section>", start)]
    return re.findall(r'<td class="mb-num">([^<]*)</td>', card)


def _list_row(html: str, title: str) -> list[str]:
    start = html.index(f">{title}</a>")
    row = html[start : html.index("</tr>", start)]
    return re.findall(r'<td class="mb-num">([^<]*)</td>', row)


@pytest.mark.parametrize("role", OUTSIDERS)
def test_the_dataset_page_shows_outsiders_the_suppressed_case_counts(
    client: Client, scanned: Dataset, users_by_role: dict[str, User | None], login: Any, role: str
) -> None:
    html = login(client, users_by_role[role]).get(f"/catalog/{scanned.pk}/").content.decode()

    assert _counts_card(html) == ["&lt; 5", "비공개", "24"]
    assert (
        '스캔으로 확인한 건수입니다. 개인을 알아볼 수 없도록 5 미만인 수는 "&lt; 5"로, '
        '그 수를 거꾸로 계산할 수 있는 수는 "비공개"로 표시합니다.'
    ) in html
    assert ">21<" not in html


@pytest.mark.parametrize("role", INSIDERS)
def test_the_dataset_page_shows_managers_and_auditors_the_exact_case_counts(
    client: Client, scanned: Dataset, users_by_role: dict[str, User | None], login: Any, role: str
) -> None:
    html = login(client, users_by_role[role]).get(f"/catalog/{scanned.pk}/").content.decode()

    assert _counts_card(html) == ["3", "21", "24"]
    assert "스캔으로 확인한 건수입니다" not in html


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", ["&lt; 5", "비공개", "24"]), ("steward", ["3", "21", "24"])]
)
def test_the_catalogue_list_shows_the_counts_as_the_viewer_may_see_them(
    client: Client,
    scanned: Dataset,
    users_by_role: dict[str, User | None],
    login: Any,
    role: str,
    expected: list[str],
) -> None:
    DatasetFactory(title="위 내시경 영상", annotated_count=3, non_annotated_count=21)
    viewer = login(client, users_by_role[role])

    page = viewer.get("/catalog/").content.decode()
    fragment = viewer.get(
        "/catalog/", {"sort": "annotated"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dataset-results"
    ).content.decode()

    assert _list_row(page, "복부 CT 영상") == expected
    assert _list_row(fragment, "복부 CT 영상") == expected
    # Never scanned: the call's counts, as they are.
    assert _list_row(page, "위 내시경 영상") == ["3", "21", "24"]


# ---------------------------------------------------------------------------------------------------------
# The sorted list
# ---------------------------------------------------------------------------------------------------------


def _titles(client: Client, sort: str) -> list[str]:
    return [dataset.title for dataset in client.get("/catalog/", {"sort": sort}).context["table"].page]


def test_suppressed_counts_sort_together_just_under_k_whatever_their_value(
    client: Client, scanned: Dataset, steward: User, login: Any
) -> None:
    institution = scanned.institution
    DatasetFactory(title="공고 2건", institution=institution, annotated_count=2, non_annotated_count=0)
    DatasetFactory(title="공고 4건", institution=institution, annotated_count=4, non_annotated_count=0)
    DatasetFactory(title="공고 10건", institution=institution, annotated_count=10, non_annotated_count=0)
    DatasetFactory(
        title="스캔 1건",
        institution=institution,
        annotated_count=1,
        non_annotated_count=30,
        scanned_at=SCANNED_AT,
    )
    Dataset.objects.filter(pk=scanned.pk).update(annotated_count=3, non_annotated_count=21)

    # Outsiders: the two scanned datasets (3 and 1, both "< 5") sit together between 4 and 10, in the
    # order of their rows, so neither is bounded by its neighbours.
    assert _titles(client, "annotated") == ["공고 2건", "공고 4건", "복부 CT 영상", "스캔 1건", "공고 10건"]
    assert _titles(client, "-annotated") == ["공고 10건", "복부 CT 영상", "스캔 1건", "공고 4건", "공고 2건"]
    # The "비공개" counts (21 and 30) sort with them too, not by their values.
    assert _titles(client, "non_annotated") == [
        "공고 2건",
        "공고 4건",
        "공고 10건",
        "복부 CT 영상",
        "스캔 1건",
    ]
    # The steward of the institution sees and sorts by the exact values.
    login(client, steward)
    assert _titles(client, "annotated") == ["스캔 1건", "공고 2건", "복부 CT 영상", "공고 4건", "공고 10건"]
    assert [d.title for d in client.get("/catalog/mine/", {"sort": "annotated"}).context["table"].page] == [
        "스캔 1건",
        "공고 2건",
        "복부 CT 영상",
        "공고 4건",
        "공고 10건",
    ]


@pytest.mark.parametrize("k", [2, 3, 5])
def test_the_sort_order_hides_exactly_what_the_counts_hide(settings: Any, applicant: User, k: int) -> None:
    settings.MEDBROKER_SMALL_CELL_K = k
    institution = InstitutionFactory()
    values = range(2 * k + 3)
    Dataset.objects.bulk_create(
        DatasetFactory.build(
            institution=institution,
            annotated_count=annotated,
            non_annotated_count=non_annotated,
            scanned_at=SCANNED_AT,
            body_part=body_part("stomach"),
            modality=modality("endoscopy"),
        )
        for annotated in values
        for non_annotated in values
    )

    ordered = datasets_with_count_order(Dataset.objects.select_related("institution"), user=applicant)

    assert ordered.count() == len(values) ** 2
    for dataset in ordered:
        counts = dataset_counts_view(dataset=dataset, user=applicant)
        for cell, order in (
            (counts.annotated, dataset.annotated_order),
            (counts.non_annotated, dataset.non_annotated_order),
            (counts.total, dataset.total_order),
        ):
            expected = k - 0.5 if cell.suppressed else cell.count
            assert order == expected, (dataset.annotated_count, dataset.non_annotated_count, cell.key)


# ---------------------------------------------------------------------------------------------------------
# Public API and metadata
# ---------------------------------------------------------------------------------------------------------


def test_the_api_gives_suppressed_counts_as_null_and_says_so(client: Client, scanned: Dataset) -> None:
    unscanned = DatasetFactory(annotated_count=3, non_annotated_count=21)

    listed = {item["id"]: item for item in client.get("/api/v1/datasets").json()["items"]}
    detail = client.get(f"/api/v1/datasets/{scanned.pk}").json()

    for item in (listed[scanned.pk], detail):
        assert (item["annotated"], item["non_annotated"], item["total"], item["counts_suppressed"]) == (
            None,
            None,
            24,
            True,
        )
    item = listed[unscanned.pk]
    assert (item["annotated"], item["non_annotated"], item["total"], item["counts_suppressed"]) == (
        3,
        21,
        24,
        False,
    )


def test_the_api_gives_outsiders_counts_even_to_a_signed_in_steward(
    client: Client, scanned: Dataset, steward: User, login: Any
) -> None:
    # The API is the catalogue's public face: the same answer for every client, whoever is signed in.
    detail = login(client, steward).get(f"/api/v1/datasets/{scanned.pk}").json()

    assert (detail["annotated"], detail["non_annotated"], detail["total"]) == (None, None, 24)


def test_the_openapi_description_marks_the_counts_nullable(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["DatasetOut"]

    assert schema["properties"]["counts_suppressed"]["type"] == "boolean"
    assert {"type": "null"} in schema["properties"]["annotated"]["anyOf"]
    assert "counts_suppressed" in schema["required"]


def _records(dataset: Dataset) -> set[Any]:
    graph = Graph().parse(data=dataset_dcat(dataset, base_url=BASE, format="turtle"), format="turtle")
    return set(graph.objects(None, HEALTH.numberOfRecords))


@pytest.mark.parametrize(
    ("annotated", "non_annotated", "expected"),
    [(3, 21, {24}), (1, 1, set()), (4, 4, set()), (3, 0, set()), (0, 0, {0})],
)
def test_dcat_number_of_records_is_left_out_when_suppressed(
    scanned: Dataset, annotated: int, non_annotated: int, expected: set[int]
) -> None:
    Dataset.objects.filter(pk=scanned.pk).update(annotated_count=annotated, non_annotated_count=non_annotated)
    scanned.refresh_from_db()

    assert _records(scanned) == {Literal(str(value), datatype=XSD.nonNegativeInteger) for value in expected}


def test_dcat_of_a_dataset_never_scanned_keeps_the_calls_small_count(db: None) -> None:
    dataset = DatasetFactory(annotated_count=1, non_annotated_count=1)

    assert _records(dataset) == {Literal("2", datatype=XSD.nonNegativeInteger)}


def test_croissant_leaves_out_suppressed_case_counts(scanned: Dataset) -> None:
    document = dataset_croissant(scanned, base_url=BASE)

    (record_set,) = document["recordSet"]
    categories = [row["key_information/category"] for row in record_set["data"]]
    assert "cases" not in categories
    assert '"key_information/count": 3' not in json.dumps(document)
