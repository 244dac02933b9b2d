from __future__ import annotations

import unicodedata

import pytest
from django.http import Http404

from medbroker.accounts.models import Role
from medbroker.accounts.tests.factories import UserFactory
from medbroker.catalog.selectors import (
    DatasetFilters,
    dataset_totals,
    dataset_visible_get,
    datasets_managed_by,
    datasets_search,
)
from medbroker.catalog.tests.conftest import Catalogue

pytestmark = pytest.mark.django_db


def titles(search_result) -> list[str]:
    return sorted(search_result.datasets.values_list("title", flat=True))


def facet(search_result, name: str) -> list[tuple[str, str, int, bool]]:
    found = next(f for f in search_result.facets if f.name == name)
    return [(o.value, o.label, o.count, o.selected) for o in found.options]


def test_public_search_lists_published_datasets_only(catalogue: Catalogue) -> None:
    result = datasets_search(user=None, query="", filters=None)

    assert titles(result) == [
        "12유도 심전도",
        "대장 CT 영상",
        "위 내시경 영상",
        "유방 MRI 영상",
    ]


def test_facets_count_the_whole_result_set_without_a_selection(catalogue: Catalogue) -> None:
    result = datasets_search(user=None, query="", filters=DatasetFilters())

    assert [f.name for f in result.facets] == [
        "institution",
        "body_part",
        "modality",
        "data_type",
        "annotated",
        "sensitivity",
    ]
    assert facet(result, "institution") == [
        (str(catalogue.gana.pk), "대구가나병원", 3, False),
        (str(catalogue.dara.pk), "대구다라병원", 1, False),
    ]
    # The draft's body part (대장 endoscopy) adds nothing: counts are over published datasets only.
    assert facet(result, "body_part") == [
        ("stomach", "위", 1, False),
        ("colon", "대장", 1, False),
        ("breast", "유방", 1, False),
        ("heart", "심장", 1, False),
    ]
    assert facet(result, "modality") == [
        ("endoscopy", "내시경", 1, False),
        ("ct", "CT", 1, False),
        ("mri", "MRI", 1, False),
        ("ecg", "ECG", 1, False),
    ]
    assert facet(result, "data_type") == [("imaging", "영상", 3, False), ("time_series", "시계열", 1, False)]
    assert facet(result, "annotated") == [("yes", "있음", 3, False), ("no", "없음", 1, False)]
    assert facet(result, "sensitivity") == [
        ("low", "낮음", 1, False),
        ("standard", "보통", 1, False),
        ("high", "높음", 2, False),
    ]


def test_a_facet_keeps_counting_its_other_values_while_the_rest_narrow(catalogue: Catalogue) -> None:
    result = datasets_search(user=None, query="", filters=DatasetFilters(modality=("ct",)))

    assert titles(result) == ["대장 CT 영상"]
    assert facet(result, "modality") == [
        ("endoscopy", "내시경", 1, False),
        ("ct", "CT", 1, True),
        ("mri", "MRI", 1, False),
        ("ecg", "ECG", 1, False),
    ]
    assert facet(result, "body_part") == [
        ("stomach", "위", 0, False),
        ("colon", "대장", 1, False),
        ("breast", "유방", 0, False),
        ("heart", "심장", 0, False),
    ]
    assert facet(result, "sensitivity") == [
        ("low", "낮음", 0, False),
        ("standard", "보통", 0, False),
        ("high", "높음", 1, False),
    ]


def test_values_of_one_facet_are_or_and_facets_are_and(catalogue: Catalogue) -> None:
    filters = DatasetFilters(modality=("ct", "mri", "endoscopy"), annotated=("yes",))

    result = datasets_search(user=None, query="", filters=filters)

    assert titles(result) == ["대장 CT 영상", "위 내시경 영상"]
    assert facet(result, "annotated") == [("yes", "있음", 2, True), ("no", "없음", 1, False)]


def test_institution_and_data_type_filters(catalogue: Catalogue) -> None:
    by_institution = datasets_search(
        user=None, query="", filters=DatasetFilters(institution=(str(catalogue.dara.pk),))
    )
    by_type = datasets_search(user=None, query="", filters=DatasetFilters(data_type=("time_series",)))

    assert titles(by_institution) == ["12유도 심전도"]
    assert titles(by_type) == ["12유도 심전도"]


def test_korean_search_finds_the_modality_name(catalogue: Catalogue) -> None:
    result = datasets_search(user=None, query="내시경")

    # The draft 대장 내시경 matches too, but the public catalogue does not show it.
    assert titles(result) == ["위 내시경 영상"]
    assert result.tokens == ["내시경"]


def test_english_search_is_case_insensitive(catalogue: Catalogue) -> None:
    assert titles(datasets_search(user=None, query="endoscopy")) == ["위 내시경 영상"]
    assert titles(datasets_search(user=None, query="ENDOSCOPY")) == ["위 내시경 영상"]


def test_search_finds_a_korean_word_inside_a_compound(catalogue: Catalogue) -> None:
    # "심전도" is written inside "12유도 심전도" and the institution's "대구다라병원" contains "다라".
    assert titles(datasets_search(user=None, query="다라")) == ["12유도 심전도"]
    assert titles(datasets_search(user=None, query="전도")) == ["12유도 심전도"]


def test_search_matches_decomposed_hangul(catalogue: Catalogue) -> None:
    decomposed = unicodedata.normalize("NFD", "내시경")
    assert decomposed != "내시경"

    assert titles(datasets_search(user=None, query=decomposed)) == ["위 내시경 영상"]


def test_every_token_of_the_query_must_match(catalogue: Catalogue) -> None:
    assert titles(datasets_search(user=None, query="대장 ct")) == ["대장 CT 영상"]
    assert titles(datasets_search(user=None, query="  대장   CT  ")) == ["대장 CT 영상"]
    assert titles(datasets_search(user=None, query="대장 mri")) == []
    assert titles(datasets_search(user=None, query="gana dicom")) == [
        "대장 CT 영상",
        "위 내시경 영상",
        "유방 MRI 영상",
    ]


def test_search_treats_like_wildcards_as_text(catalogue: Catalogue) -> None:
    assert titles(datasets_search(user=None, query="%")) == []
    assert titles(datasets_search(user=None, query="_")) == []


def test_facet_counts_follow_the_query(catalogue: Catalogue) -> None:
    result = datasets_search(user=None, query="dicom")

    assert facet(result, "institution") == [
        (str(catalogue.gana.pk), "대구가나병원", 3, False),
        (str(catalogue.dara.pk), "대구다라병원", 0, False),
    ]


def test_stewards_see_their_own_drafts_only_when_asked(catalogue: Catalogue) -> None:
    dara_steward = UserFactory(organisation=catalogue.dara.organisation, roles=[Role.DATA_STEWARD])
    gana_steward = UserFactory(organisation=catalogue.gana.organisation, roles=[Role.DATA_STEWARD])

    public = datasets_search(user=dara_steward, query="내시경")
    own = datasets_search(user=dara_steward, query="내시경", include_unpublished=True)
    other = datasets_search(user=gana_steward, query="내시경", include_unpublished=True)

    assert titles(public) == ["위 내시경 영상"]
    assert titles(own) == ["대장 내시경 영상", "위 내시경 영상"]
    assert titles(other) == ["위 내시경 영상"]


def test_managed_datasets_per_role(catalogue: Catalogue, operator, applicant) -> None:
    dara_steward = UserFactory(organisation=catalogue.dara.organisation, roles=[Role.DATA_STEWARD])

    assert sorted(datasets_managed_by(user=dara_steward).values_list("title", flat=True)) == [
        "12유도 심전도",
        "대장 내시경 영상",
    ]
    assert datasets_managed_by(user=operator).count() == 5
    assert datasets_managed_by(user=applicant).count() == 0
    assert datasets_managed_by(user=None).count() == 0


def test_an_unpublished_dataset_is_not_found_for_those_who_do_not_manage_it(
    catalogue: Catalogue, applicant, operator
) -> None:
    draft = catalogue.colon_endoscopy_draft
    dara_steward = UserFactory(organisation=catalogue.dara.organisation, roles=[Role.DATA_STEWARD])

    assert dataset_visible_get(user=operator, pk=draft.pk) == draft
    assert dataset_visible_get(user=dara_steward, pk=draft.pk) == draft
    with pytest.raises(Http404):
        dataset_visible_get(user=applicant, pk=draft.pk)
    with pytest.raises(Http404):
        dataset_visible_get(user=None, pk=draft.pk)


def test_filters_from_query_parameters_drop_values_outside_the_vocabulary() -> None:
    from django.http import QueryDict

    params = QueryDict(
        "institution=3&institution=x&institution=99999999999999999999&modality=ct&modality=ct"
        "&data_type=imaging&data_type=video&annotated=yes&annotated=maybe&sensitivity=low&sensitivity=secret"
    )

    assert DatasetFilters.from_params(params) == DatasetFilters(
        institution=("3",),
        body_part=(),
        modality=("ct",),
        data_type=("imaging",),
        annotated=("yes",),
        sensitivity=("low",),
    )
    assert DatasetFilters.from_params({"modality": "mri", "body_part": ["breast"]}) == DatasetFilters(
        modality=("mri",), body_part=("breast",)
    )


def test_totals_per_modality_and_body_part_over_published_datasets(catalogue: Catalogue) -> None:
    totals = dataset_totals()

    assert [(r.code, r.annotated, r.non_annotated, r.total, r.datasets) for r in totals.by_modality] == [
        ("endoscopy", 10550, 10950, 21500, 1),
        ("ct", 500, 1500, 2000, 1),
        ("mri", 0, 400, 400, 1),
        ("ecg", 2000, 8000, 10000, 1),
    ]
    assert [(r.code, r.total) for r in totals.by_body_part] == [
        ("stomach", 21500),
        ("colon", 2000),
        ("breast", 400),
        ("heart", 10000),
    ]
    assert (totals.overall.annotated, totals.overall.non_annotated, totals.overall.total) == (
        13050,
        20850,
        33900,
    )
    assert totals.overall.datasets == 4
    without_illustrative = dataset_totals(include_illustrative=False).overall
    assert (without_illustrative.total, without_illustrative.datasets) == (23900, 3)


def test_totals_are_zero_on_an_empty_catalogue(db: None) -> None:
    totals = dataset_totals()

    assert totals.by_modality == []
    assert (totals.overall.annotated, totals.overall.non_annotated, totals.overall.total) == (0, 0, 0)
