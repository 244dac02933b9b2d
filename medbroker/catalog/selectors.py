"""Reads of the catalogue: search with facets, the datasets a user may see or manage, totals.

The public catalogue shows published datasets only (announcement §3.3: anyone may browse "the list of
medical data each hospital or institution has built"). Drafts and withdrawn datasets are seen only by
operators and by the data stewards of the dataset's own institution.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, F, FloatField, Q, QuerySet, Sum, Value, When
from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Role
from medbroker.catalog.models import Dataset, DataType, Institution, Modality, Sensitivity

# Public sort columns of the catalogue table → the fields they order by (core.tables.table_build).
# Anything not named here falls back to the default, so a forged ``?sort=`` never reaches order_by.
DATASET_SORTABLE: dict[str, str | tuple[str, ...]] = {
    "title": "title",
    # Real datasets before illustrative ones: the call's own rows are what a company came to see.
    "institution": (
        "is_illustrative",
        "institution__organisation__name",
        "body_part__order",
        "modality__order",
        "title",
    ),
    "body_part": ("body_part__order", "body_part__name"),
    "modality": ("modality__order", "modality__name"),
    # The orders ``datasets_search`` annotates: a count the viewer sees suppressed sorts with the other
    # suppressed ones, not by its value, which its neighbours in the sorted list would give away.
    "annotated": "annotated_order",
    "non_annotated": "non_annotated_order",
    "total": "total_order",
}
# The data steward's own list: every dataset on it is one they manage, and they see its counts exactly.
DATASET_MANAGED_SORTABLE: dict[str, str | tuple[str, ...]] = {
    **DATASET_SORTABLE,
    "annotated": "annotated_count",
    "non_annotated": "non_annotated_count",
    "total": "total_count",
}
DATASET_DEFAULT_SORT = "institution"

# A query of more tokens than this is cut: each token is one more LIKE over every row.
SEARCH_MAX_TOKENS = 8

ANNOTATED_YES = "yes"
ANNOTATED_NO = "no"


def _bilingual(name: str, name_en: str) -> str:
    return name_en if (get_language() or "ko").startswith("en") and name_en else name


def search_text_normalise(text: str) -> str:
    """The form both the stored document and the query are compared in.

    NFC first: Hangul typed on some systems arrives decomposed (NFD, jamo by jamo) and would never match
    the composed syllables stored from another. Lower-cased because SQLite's LIKE folds ASCII case only.
    """
    return unicodedata.normalize("NFC", text).lower()


# ---------------------------------------------------------------------------------------------------------
# Who sees what
# ---------------------------------------------------------------------------------------------------------


def user_can_manage_institution(*, user: Any, institution: Institution) -> bool:
    """Operators manage every institution's datasets; a data steward only those of their own institution."""
    if user is None or not user.is_authenticated:
        return False
    if user.has_role(Role.OPERATOR):
        return True
    return bool(
        user.has_role(Role.DATA_STEWARD)
        and user.organisation_id is not None
        and user.organisation_id == institution.organisation_id
    )


def institutions_managed_by(*, user: Any) -> QuerySet[Institution]:
    institutions = Institution.objects.select_related("organisation")
    if user is None or not user.is_authenticated:
        return institutions.none()
    if user.has_role(Role.OPERATOR):
        return institutions.all()
    if user.has_role(Role.DATA_STEWARD) and user.organisation_id is not None:
        return institutions.filter(organisation_id=user.organisation_id)
    return institutions.none()


def _managed_q(user: Any) -> Q | None:
    """The datasets ``user`` manages as a filter; ``None`` when they manage none."""
    if user is None or not user.is_authenticated:
        return None
    if user.has_role(Role.OPERATOR):
        # Not an empty Q(): "published | Q()" drops the empty side and would hide every draft.
        return Q(pk__isnull=False)
    if user.has_role(Role.DATA_STEWARD) and user.organisation_id is not None:
        return Q(institution__organisation_id=user.organisation_id)
    return None


def _with_relations(datasets: QuerySet[Dataset]) -> QuerySet[Dataset]:
    return datasets.select_related("institution__organisation", "body_part", "modality")


def datasets_published() -> QuerySet[Dataset]:
    return _with_relations(Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED))


def datasets_managed_by(*, user: Any) -> QuerySet[Dataset]:
    """Every dataset ``user`` may edit, publish or withdraw, whatever its state."""
    managed = _managed_q(user)
    if managed is None:
        return Dataset.objects.none()
    return _with_relations(Dataset.objects.filter(managed))


def datasets_visible_to(*, user: Any) -> QuerySet[Dataset]:
    """Published datasets, plus the unpublished ones ``user`` manages."""
    visible = Q(publication=Dataset.Publication.PUBLISHED)
    managed = _managed_q(user)
    if managed is not None:
        visible |= managed
    return _with_relations(Dataset.objects.filter(visible))


def dataset_visible_get(*, user: Any, pk: int) -> Dataset:
    """One dataset, or 404: an unpublished dataset does not exist for anyone who may not manage it."""
    dataset = datasets_visible_to(user=user).filter(pk=pk).first()
    if dataset is None:
        raise Http404
    return dataset


def dataset_managed_get(*, user: Any, pk: int) -> Dataset:
    dataset = datasets_managed_by(user=user).filter(pk=pk).first()
    if dataset is None:
        raise Http404
    return dataset


def dataset_published_get(*, pk: int) -> Dataset | None:
    return datasets_published().filter(pk=pk).first()


def dataset_online_use_allowed(dataset: Dataset) -> bool:
    """Online use (SSL-VPN, VDI, OTP) may be agreed only for low-sensitivity data (announcement §4 ⑤);
    everything else is used in the closed learning room."""
    return dataset.sensitivity == Sensitivity.LOW


# ---------------------------------------------------------------------------------------------------------
# Search and facets
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetFilters:
    """The facet selections of a search. Within one facet values are OR-ed, across facets AND-ed."""

    institution: tuple[str, ...] = ()
    body_part: tuple[str, ...] = ()
    modality: tuple[str, ...] = ()
    data_type: tuple[str, ...] = ()
    annotated: tuple[str, ...] = ()
    sensitivity: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DatasetFilters:
        """Read the selections from a QueryDict (``?modality=ct&modality=mri``) or a plain mapping.

        Values of closed vocabularies that do not exist are dropped; an unknown institution id or code
        stays and simply matches nothing, as a stale bookmark should.
        """

        def values(name: str) -> list[str]:
            if hasattr(params, "getlist"):
                raw: Iterable[Any] = params.getlist(name)
            else:
                value = params.get(name)
                raw = value if isinstance(value, list | tuple) else ([] if value in (None, "") else [value])
            return [str(v).strip() for v in raw if str(v).strip()]

        def unique(items: Iterable[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(items))

        return cls(
            # Ids longer than a bigint would overflow the database driver, not just match nothing.
            institution=unique(v for v in values("institution") if v.isdigit() and len(v) <= 18),
            body_part=unique(values("body_part")),
            modality=unique(values("modality")),
            data_type=unique(v for v in values("data_type") if v in DataType.values),
            annotated=unique(v for v in values("annotated") if v in (ANNOTATED_YES, ANNOTATED_NO)),
            sensitivity=unique(v for v in values("sensitivity") if v in Sensitivity.values),
        )

    def selected(self, facet: str) -> tuple[str, ...]:
        selection: tuple[str, ...] = getattr(self, facet)
        return selection


@dataclass(frozen=True)
class FacetOption:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Facet:
    name: str
    label: str | Promise
    options: list[FacetOption]


@dataclass(frozen=True)
class DatasetSearch:
    datasets: QuerySet[Dataset]
    facets: list[Facet]
    query: str
    filters: DatasetFilters
    tokens: list[str] = field(default_factory=list)


def search_tokens(query: str) -> list[str]:
    return search_text_normalise(query).split()[:SEARCH_MAX_TOKENS]


def _query_q(tokens: Sequence[str]) -> Q:
    # Every token must occur somewhere in the document, as a substring. Korean writes compounds without
    # spaces ("위내시경", "유방초음파"), and no word splitter ships with both SQLite and PostgreSQL, so
    # substring matching is what finds "내시경" inside "위내시경". The document is already lower-cased;
    # icontains keeps PostgreSQL (UPPER … LIKE) and SQLite (ASCII-only LIKE folding) in agreement.
    condition = Q()
    for token in tokens:
        condition &= Q(search_document__icontains=token)
    return condition


def _annotated_q(selection: Sequence[str]) -> Q:
    condition = Q(pk__in=[])
    if ANNOTATED_YES in selection:
        condition |= Q(annotated_count__gt=0)
    if ANNOTATED_NO in selection:
        condition |= Q(annotated_count=0)
    return condition


@dataclass(frozen=True)
class _FacetSpec:
    name: str
    label: Any
    # Field whose distinct values are the options, and the fields the option's label is built from.
    value_field: str
    label_fields: tuple[str, ...]
    order_fields: tuple[str, ...]
    filter_q: Callable[[Sequence[str]], Q]
    label_of: Callable[[dict[str, Any]], str]


def _choice_label(choices: Any, field_name: str) -> Callable[[dict[str, Any]], str]:
    labels = dict(choices)
    return lambda row: str(labels.get(row[field_name], row[field_name]))


_FACETS: tuple[_FacetSpec, ...] = (
    _FacetSpec(
        name="institution",
        label=_("보유기관"),
        value_field="institution_id",
        label_fields=("institution__organisation__name", "institution__organisation__name_en"),
        order_fields=("institution__organisation__name",),
        filter_q=lambda sel: Q(institution_id__in=[int(v) for v in sel]),
        label_of=lambda row: _bilingual(
            row["institution__organisation__name"], row["institution__organisation__name_en"]
        ),
    ),
    _FacetSpec(
        name="body_part",
        label=_("부위"),
        value_field="body_part__code",
        label_fields=("body_part__name", "body_part__name_en", "body_part__order"),
        order_fields=("body_part__order", "body_part__name"),
        filter_q=lambda sel: Q(body_part__code__in=sel),
        label_of=lambda row: _bilingual(row["body_part__name"], row["body_part__name_en"]),
    ),
    _FacetSpec(
        name="modality",
        label=_("모달리티"),
        value_field="modality__code",
        label_fields=("modality__name", "modality__name_en", "modality__order"),
        order_fields=("modality__order", "modality__name"),
        filter_q=lambda sel: Q(modality__code__in=sel),
        label_of=lambda row: _bilingual(row["modality__name"], row["modality__name_en"]),
    ),
    _FacetSpec(
        name="data_type",
        label=_("데이터 유형"),
        value_field="data_type",
        label_fields=(),
        order_fields=("data_type",),
        filter_q=lambda sel: Q(data_type__in=sel),
        label_of=_choice_label(DataType.choices, "data_type"),
    ),
    _FacetSpec(
        name="sensitivity",
        label=_("민감도"),
        value_field="sensitivity",
        label_fields=(),
        order_fields=("sensitivity",),
        filter_q=lambda sel: Q(sensitivity__in=sel),
        label_of=_choice_label(Sensitivity.choices, "sensitivity"),
    ),
)
_FACET_ORDER = ("institution", "body_part", "modality", "data_type", "annotated", "sensitivity")
_SENSITIVITY_ORDER = {value: i for i, value in enumerate(Sensitivity.values)}


def _filters_q(filters: DatasetFilters, *, skip: str | None = None) -> Q:
    condition = Q()
    for spec in _FACETS:
        if spec.name != skip and filters.selected(spec.name):
            condition &= spec.filter_q(filters.selected(spec.name))
    if skip != "annotated" and filters.annotated:
        condition &= _annotated_q(filters.annotated)
    return condition


def _facet_build(spec: _FacetSpec, scope: QuerySet[Dataset], counted: Q, selected: Sequence[str]) -> Facet:
    rows = (
        scope.order_by()
        .values(spec.value_field, *spec.label_fields)
        .annotate(matching=Count("pk", filter=counted))
        .order_by(*spec.order_fields)
    )
    options = [
        FacetOption(
            value=str(row[spec.value_field]),
            label=spec.label_of(row),
            count=row["matching"],
            selected=str(row[spec.value_field]) in selected,
        )
        for row in rows
    ]
    if spec.name == "sensitivity":
        options.sort(key=lambda option: _SENSITIVITY_ORDER.get(option.value, 99))
    return Facet(name=spec.name, label=spec.label, options=options)


def _annotated_facet(scope: QuerySet[Dataset], counted: Q, selected: Sequence[str]) -> Facet:
    counts = scope.aggregate(
        yes=Count("pk", filter=counted & Q(annotated_count__gt=0)),
        no=Count("pk", filter=counted & Q(annotated_count=0)),
        any_yes=Count("pk", filter=Q(annotated_count__gt=0)),
        any_no=Count("pk", filter=Q(annotated_count=0)),
    )
    options = []
    for value, label in ((ANNOTATED_YES, _("있음")), (ANNOTATED_NO, _("없음"))):
        if counts[f"any_{value}"] or value in selected:
            options.append(FacetOption(value, str(label), counts[value], value in selected))
    return Facet(name="annotated", label=_("Annotation 데이터"), options=options)


def datasets_matching_query(datasets: QuerySet[Dataset], query: str) -> QuerySet[Dataset]:
    """Narrow ``datasets`` to those whose search document holds every token of ``query``."""
    return datasets.filter(_query_q(search_tokens(query)))


def datasets_search(
    *,
    user: Any,
    query: str = "",
    filters: DatasetFilters | None = None,
    include_unpublished: bool = False,
    with_facets: bool = True,
) -> DatasetSearch:
    """Datasets matching ``query`` and ``filters``, with a count per facet value.

    The public catalogue (the default) searches published datasets only; ``include_unpublished`` adds the
    drafts and withdrawn datasets ``user`` manages (all for operators, their own institution's for data
    stewards). ``with_facets=False`` skips the facet counts (one query per facet) where nobody shows them.

    Facet counts are over the current result set with that facet's own selection left out ("disjunctive"
    faceting): with 유방 ticked under 부위, 대장 still shows how many results ticking it would add, while every
    other facet counts exactly the rows listed. Options come from the whole scope, so the set of checkboxes
    stays put as the selection changes.
    """
    filters = filters or DatasetFilters()
    scope = datasets_visible_to(user=user) if include_unpublished else datasets_published()
    tokens = search_tokens(query)
    query_q = _query_q(tokens)
    datasets = datasets_with_count_order(scope.filter(query_q & _filters_q(filters)), user=user)

    if not with_facets:
        return DatasetSearch(datasets=datasets, facets=[], query=query, filters=filters, tokens=tokens)
    built: dict[str, Facet] = {}
    for spec in _FACETS:
        counted = query_q & _filters_q(filters, skip=spec.name)
        built[spec.name] = _facet_build(spec, scope, counted, filters.selected(spec.name))
    built["annotated"] = _annotated_facet(
        scope, query_q & _filters_q(filters, skip="annotated"), filters.annotated
    )
    facets = [built[name] for name in _FACET_ORDER]
    return DatasetSearch(datasets=datasets, facets=facets, query=query, filters=filters, tokens=tokens)


# ---------------------------------------------------------------------------------------------------------
# Totals (the call's table, summed)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TotalRow:
    code: str
    name: str
    name_en: str
    annotated: int
    non_annotated: int
    total: int
    datasets: int

    @property
    def label(self) -> str:
        return _bilingual(self.name, self.name_en)


@dataclass(frozen=True)
class DatasetTotals:
    by_modality: list[TotalRow]
    by_body_part: list[TotalRow]
    overall: TotalRow


def _sums() -> dict[str, Any]:
    return {
        "annotated": Sum("annotated_count"),
        "non_annotated": Sum("non_annotated_count"),
        "total": Sum("total_count"),
        "datasets": Count("pk"),
    }


def _total_rows(published: QuerySet[Dataset], relation: str) -> list[TotalRow]:
    rows = (
        published.order_by()
        .values(f"{relation}__code", f"{relation}__name", f"{relation}__name_en", f"{relation}__order")
        .annotate(**_sums())
        .order_by(f"{relation}__order", f"{relation}__name")
    )
    return [
        TotalRow(
            code=row[f"{relation}__code"],
            name=row[f"{relation}__name"],
            name_en=row[f"{relation}__name_en"],
            annotated=row["annotated"] or 0,
            non_annotated=row["non_annotated"] or 0,
            total=row["total"] or 0,
            datasets=row["datasets"],
        )
        for row in rows
    ]


def dataset_totals(*, include_illustrative: bool = True) -> DatasetTotals:
    """Annotated / non-annotated / total cases and the number of datasets, per modality and per body part,
    over published datasets. ``include_illustrative=False`` leaves out the rows whose breakdown the call does
    not give, which is how the call's own imaging table is summed."""
    published = Dataset.objects.filter(publication=Dataset.Publication.PUBLISHED)
    if not include_illustrative:
        published = published.filter(is_illustrative=False)
    overall = published.aggregate(**_sums())
    return DatasetTotals(
        by_modality=_total_rows(published, "modality"),
        by_body_part=_total_rows(published, "body_part"),
        overall=TotalRow(
            code="all",
            name=str(_("전체")),
            name_en="All",
            annotated=overall["annotated"] or 0,
            non_annotated=overall["non_annotated"] or 0,
            total=overall["total"] or 0,
            datasets=overall["datasets"],
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# Key information found by the last scan, with small cells suppressed for outsiders
# ---------------------------------------------------------------------------------------------------------

_SEX_LABELS = {"M": _("남성"), "F": _("여성"), "O": _("기타"), "unknown": _("알 수 없음")}
_AGE_BAND_ORDER = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
# (summary key, label, unit); the order is the order of the table on the dataset page.
_ACQUISITION_LABELS: tuple[tuple[str, Any, Any], ...] = (
    ("ct_slice_thickness_mm", _("CT 슬라이스 두께"), "mm"),
    ("ct_kvp", _("CT 관전압"), "kVp"),
    ("mr_field_strength_t", _("MR 자기장 세기"), "T"),
    ("pixel_spacing_mm", _("픽셀 간격"), "mm"),
    ("sampling_rate_hz", _("샘플링 주파수"), "Hz"),
    ("channels", _("채널 수"), ""),
    ("duration_s", _("기록 길이"), _("초")),
)


@dataclass(frozen=True)
class KeyInformationCell:
    """One value of a distribution or one total: ``count`` is None when it is suppressed."""

    key: str
    label: str
    count: int | None
    display: str

    @property
    def suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class KeyInformationDistribution:
    name: str
    label: str
    cells: list[KeyInformationCell]

    @property
    def suppressed_any(self) -> bool:
        return any(cell.suppressed for cell in self.cells)

    def chart(self, *, keep_zeros: bool = False) -> dict[str, list[Any]]:
        """Labels and counts of the cells shown exactly: suppressed cells are left out of the chart, and
        empty ones too unless the axis is an ordered scale (age bands) where a gap would mislead."""
        shown = [cell for cell in self.cells if not cell.suppressed and (keep_zeros or cell.count)]
        if not any(cell.count for cell in shown):
            # Nothing but zeros left: an empty chart says less than the table beside it.
            shown = []
        return {"labels": [cell.label for cell in shown], "counts": [cell.count for cell in shown]}


@dataclass(frozen=True)
class AcquisitionRow:
    name: str
    label: str
    unit: str
    minimum: float | int | None
    maximum: float | int | None
    median: float | int | None

    @property
    def display(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        low, high, middle = (_number_text(v) for v in (self.minimum, self.maximum, self.median))
        if self.minimum == self.maximum:
            return f"{low}{unit}"
        return f"{low}–{high}{unit} ({_('중앙값')} {middle})"


@dataclass(frozen=True)
class KeyInformationView:
    """What the dataset page shows of ``Dataset.scan_summary``, for one viewer.

    ``exact`` is true for those who manage or audit the dataset; everyone else sees each count under
    ``k`` (``MEDBROKER_SMALL_CELL_K``) as "< k", plus larger cells hidden as "비공개" wherever the hidden
    ones could otherwise be worked out from the total (``_suppression``).
    """

    scanned_at: Any
    exact: bool
    k: int
    totals: list[KeyInformationCell]
    distributions: list[KeyInformationDistribution]
    acquisition: list[AcquisitionRow]
    date_first: str
    date_last: str
    cases: KeyInformationDistribution

    @property
    def suppressed_any(self) -> bool:
        return any(cell.suppressed for cell in self.totals) or any(
            d.suppressed_any for d in [*self.distributions, self.cases]
        )

    def distribution(self, name: str) -> KeyInformationDistribution | None:
        return next((d for d in self.distributions if d.name == name), None)

    @property
    def chart_data(self) -> dict[str, Any]:
        """The charts of the page (modalities, age bands, sex, body parts), suppressed cells left out."""
        charts: dict[str, Any] = {"count_label": str(_("건수"))}
        for name in ("modalities", "age_bands", "sex", "body_parts"):
            distribution = self.distribution(name)
            charts[name] = (
                distribution.chart(keep_zeros=name == "age_bands")
                if distribution
                else {"labels": [], "counts": []}
            )
        return charts


def _number_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class _Suppression:
    """Which cells of one distribution an outsider does not see.

    ``small`` holds the counts from 1 to k-1 (shown as "< k"), ``complementary`` the larger ones hidden to
    protect them ("비공개"). ``resolved`` is false when hiding every other non-zero cell still leaves the
    hidden ones derivable from the distribution's total: the caller hides that total if it shows one.
    """

    small: frozenset[str]
    complementary: frozenset[str]
    resolved: bool

    @property
    def hidden(self) -> frozenset[str]:
        return self.small | self.complementary


_NOTHING_HIDDEN = _Suppression(small=frozenset(), complementary=frozenset(), resolved=True)


def _hidden_cells_derivable(*, hidden_sum: int, small: int, large: int, k: int) -> bool:
    """Whether a reader who knows a distribution's total can narrow its hidden cells down.

    ``small`` cells are shown as "< k" (so known to lie in 1..k-1) and ``large`` ones as "비공개" (known to
    be at least k, since only such cells are hidden to protect others); together they hold ``hidden_sum``,
    which the total minus the visible cells gives away. Derivable when that sum is under k, which is itself
    a group of fewer than k people, or when the bounds leave some hidden cell a single possible value: one
    hidden cell alone, or two cells "< 5" beside a sum that only 4 + 4 can make.
    """
    if hidden_sum < k:
        return True
    # Cells of one kind share their bounds, so one cell of each kind stands for all. A cell's range is what
    # the sum leaves it once the other hidden cells take their least and their most (a "비공개" cell has
    # no most: then neither has the sum of the others).
    if small:
        others_least = (small - 1) + large * k
        others_most = None if large else (small - 1) * (k - 1)
        high = min(k - 1, hidden_sum - others_least)
        low = 1 if others_most is None else max(1, hidden_sum - others_most)
        if high <= low:
            return True
    if large:
        others_least = small + (large - 1) * k
        others_most = None if large > 1 else small * (k - 1)
        high = hidden_sum - others_least
        low = k if others_most is None else max(k, hidden_sum - others_most)
        if high <= low:
            return True
    return False


def _suppression(counts: Mapping[str, int], *, k: int) -> _Suppression:
    """The small-cell suppression of one distribution (``counts`` in display order) for an outsider.

    First every count from 1 to k-1 is hidden. Then, as long as the hidden cells could be worked out from
    the total (``_hidden_cells_derivable``: they sum to under k, one non-zero cell alone is hidden, or their
    bounds pin one down), the smallest visible non-zero cell is hidden too, the earlier one of equal cells
    first. With M=10, F=1, O=0, unknown=1 (12 patients) hiding F and unknown is not enough, since together
    they are 12 - 10 = 2: M is hidden with them.

    A zero is shown: it says that nobody falls there, which tells nothing about a person. It does tell that
    each hidden cell is at least 1, and the bounds above count on that.
    """
    small = [key for key, count in counts.items() if 0 < count < k]
    if not small:
        return _NOTHING_HIDDEN
    candidates = sorted(
        (count, index, key) for index, (key, count) in enumerate(counts.items()) if count >= k
    )
    hidden_sum = sum(counts[key] for key in small)
    complementary: list[str] = []

    def derivable() -> bool:
        return _hidden_cells_derivable(hidden_sum=hidden_sum, small=len(small), large=len(complementary), k=k)

    while derivable() and candidates:
        count, _index, key = candidates.pop(0)
        complementary.append(key)
        hidden_sum += count
    return _Suppression(
        small=frozenset(small), complementary=frozenset(complementary), resolved=not derivable()
    )


def _cell(key: str, label: str, count: int, suppression: _Suppression, *, k: int) -> KeyInformationCell:
    if key in suppression.small:
        return KeyInformationCell(key=key, label=label, count=None, display=f"< {k}")
    if key in suppression.complementary:
        return KeyInformationCell(key=key, label=label, count=None, display=str(_("비공개")))
    return KeyInformationCell(key=key, label=label, count=count, display=f"{count:,}")


def _cells_suppress(
    items: Sequence[tuple[str, str, int]], *, k: int, exact: bool
) -> tuple[list[KeyInformationCell], _Suppression]:
    """Cells of one distribution as the viewer sees them (``_suppression`` for outsiders, exact values for
    those who manage or audit the dataset)."""
    suppression = _NOTHING_HIDDEN if exact else _suppression({key: count for key, _l, count in items}, k=k)
    return [_cell(key, label, count, suppression, k=k) for key, label, count in items], suppression


def _total_cell(key: str, label: Any, count: int, *, k: int, exact: bool) -> KeyInformationCell:
    hidden = not exact and 0 < count < k
    return KeyInformationCell(
        key=key,
        label=str(label),
        count=None if hidden else count,
        display=f"< {k}" if hidden else f"{count:,}",
    )


def _by_count(mapping: Any) -> list[tuple[str, str, int]]:
    if not isinstance(mapping, dict):
        return []
    items = [(str(key), str(key), _count(value)) for key, value in mapping.items()]
    return sorted(items, key=lambda item: (-item[2], item[0]))


def _modality_items(mapping: Any) -> list[tuple[str, str, int]]:
    # DICOM codes ("MR", "ES") beside the catalogue's names ("MRI", "내시경") where the catalogue knows them.
    names = {
        modality.dicom_code: modality.label
        for modality in Modality.objects.filter(dicom_code__in=list(mapping or {})).exclude(dicom_code="")
    }
    return [
        (key, f"{names[key]} ({key})" if key in names and names[key] != key else key, count)
        for key, _label, count in _by_count(mapping)
    ]


def _fixed_items(mapping: Any, order: Sequence[str], labels: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    mapping = mapping if isinstance(mapping, dict) else {}
    keys = [*order, *(key for key in mapping if key not in order)]
    return [(key, str(labels.get(key, key)), _count(mapping.get(key, 0))) for key in keys if key in mapping]


def _age_band_label(band: str) -> str:
    if band == "unknown":
        return str(_("알 수 없음"))
    if band.endswith("+"):
        return str(_("%(age)s세 이상") % {"age": band[:-1]})
    return str(_("%(band)s세") % {"band": band.replace("-", "–")})


def _month(value: Any) -> str:
    return value[:7] if isinstance(value, str) and len(value) >= 7 else ""


def _small_cell_k() -> int:
    return int(getattr(settings, "MEDBROKER_SMALL_CELL_K", 5))


def _counts_exact_for(*, user: Any, dataset: Dataset) -> bool:
    """Operators, auditors and the data stewards of the dataset's institution see its counts exactly."""
    return bool(
        user_can_manage_institution(user=user, institution=dataset.institution)
        or (user is not None and user.is_authenticated and user.has_role(Role.AUDITOR))
    )


# The scan's total each distribution adds up to when no file lacks the value.
_DISTRIBUTION_TOTALS = {
    "modalities": "instances",
    "body_parts": "instances",
    "manufacturers": "instances",
    "models": "instances",
    "sex": "patients",
    "age_bands": "patients",
    "signal_formats": "signal_records",
}


def _hidden_total_cell(cell: KeyInformationCell) -> KeyInformationCell:
    return KeyInformationCell(key=cell.key, label=cell.label, count=None, display=str(_("비공개")))


def _key_information_suppress(
    totals: Sequence[tuple[str, str, int]],
    distributions: Sequence[tuple[str, str, list[tuple[str, str, int]]]],
    *,
    k: int,
    exact: bool,
) -> tuple[list[KeyInformationCell], list[KeyInformationDistribution]]:
    """The totals and distributions of the scan card as the viewer sees them.

    Each distribution is suppressed on its own (``_suppression``). Where even that leaves its hidden cells
    derivable (every non-zero cell hidden, M=5, F=1, unknown=1 beside 7 patients), the total it adds up
    to is hidden as well; and another distribution of that total whose cells are all shown would give the
    total back, so its smallest non-zero cell is hidden too ("비공개", known only to be at least k).
    """
    total_cells = {key: _total_cell(key, label, count, k=k, exact=exact) for key, label, count in totals}
    total_counts = {key: count for key, _label, count in totals}
    counts = {name: {key: count for key, _label, count in items} for name, _label, items in distributions}
    suppressions = {
        name: _NOTHING_HIDDEN if exact else _suppression(cells, k=k) for name, cells in counts.items()
    }

    def adds_up_to(name: str, total_key: str) -> bool:
        return (
            _DISTRIBUTION_TOTALS.get(name) == total_key
            and sum(counts[name].values()) == total_counts[total_key]
        )

    for name in counts:
        total_key = _DISTRIBUTION_TOTALS.get(name, "")
        total = total_cells.get(total_key)
        if (
            total is None
            or total.suppressed
            or suppressions[name].resolved
            or not adds_up_to(name, total_key)
        ):
            continue
        total_cells[total_key] = _hidden_total_cell(total)
        for sibling, cells in counts.items():
            if adds_up_to(sibling, total_key) and not suppressions[sibling].hidden and any(cells.values()):
                _count_value, _index, smallest = min(
                    (count, index, key) for index, (key, count) in enumerate(cells.items()) if count
                )
                suppressions[sibling] = _Suppression(
                    small=frozenset(), complementary=frozenset({smallest}), resolved=True
                )
    built = [
        KeyInformationDistribution(
            name=name,
            label=label,
            cells=[
                _cell(key, item_label, count, suppressions[name], k=k) for key, item_label, count in items
            ],
        )
        for name, label, items in distributions
    ]
    return [total_cells[key] for key, _label, _count in totals], built


def dataset_key_information_view(*, dataset: Dataset, user: Any) -> KeyInformationView | None:
    """The scan's key information of ``dataset`` as ``user`` may see it; None when it was never scanned.

    Operators, auditors and the data stewards of the dataset's institution see exact counts; companies,
    reviewers and anonymous visitors see small cells suppressed (``MEDBROKER_SMALL_CELL_K``), because a
    count of one or two patients with a given age band and sex can point at a person.
    """
    summary = dataset.scan_summary
    if not summary:
        return None
    k = _small_cell_k()
    exact = _counts_exact_for(user=user, dataset=dataset)
    signals = summary.get("signals") if isinstance(summary.get("signals"), dict) else {}
    age_labels = {band: _age_band_label(band) for band in (*_AGE_BAND_ORDER, "unknown")}
    totals, distributions = _key_information_suppress(
        [
            (key, str(label), _count(value))
            for key, label, value in (
                ("patients", _("환자"), summary.get("patients")),
                ("studies", _("검사(Study)"), summary.get("studies")),
                ("series", _("시리즈(Series)"), summary.get("series")),
                ("instances", _("영상 인스턴스"), summary.get("instances")),
                ("signal_records", _("신호 기록"), signals.get("records")),
                ("files", _("파일"), summary.get("files")),
            )
        ],
        [
            ("modalities", str(_("모달리티")), _modality_items(summary.get("modalities"))),
            ("body_parts", str(_("촬영 부위")), _by_count(summary.get("body_parts"))),
            ("manufacturers", str(_("제조사")), _by_count(summary.get("manufacturers"))),
            ("models", str(_("장비 모델")), _by_count(summary.get("models"))),
            (
                "sex",
                str(_("성별(환자 수)")),
                _fixed_items(summary.get("sex"), ("M", "F", "O", "unknown"), _SEX_LABELS),
            ),
            (
                "age_bands",
                str(_("연령대(환자 수)")),
                _fixed_items(summary.get("age_bands"), (*_AGE_BAND_ORDER, "unknown"), age_labels),
            ),
            ("signal_formats", str(_("신호 형식")), _by_count(signals.get("formats"))),
        ],
        k=k,
        exact=exact,
    )
    cases = summary.get("cases") if isinstance(summary.get("cases"), dict) else {}
    case_counts = _case_counts(
        annotated=_count(cases.get("annotated")),
        non_annotated=_count(cases.get("non_annotated")),
        k=k,
        exact=exact,
    )
    acquisition_summary = summary.get("acquisition") if isinstance(summary.get("acquisition"), dict) else {}
    acquisition = [
        AcquisitionRow(
            name=name,
            label=str(label),
            unit=str(unit),
            minimum=values.get("min"),
            maximum=values.get("max"),
            median=values.get("median"),
        )
        for name, label, unit in _ACQUISITION_LABELS
        if isinstance(values := acquisition_summary.get(name), dict) and values.get("min") is not None
    ]
    date_range = summary.get("date_range") if isinstance(summary.get("date_range"), dict) else {}
    return KeyInformationView(
        scanned_at=dataset.scanned_at,
        exact=exact,
        k=k,
        totals=totals,
        distributions=distributions,
        acquisition=acquisition,
        date_first=_month(date_range.get("first")),
        date_last=_month(date_range.get("last")),
        cases=KeyInformationDistribution(
            name="cases",
            label=str(_("Annotation 구분(건)")),
            cells=[case_counts.annotated, case_counts.non_annotated],
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# Case counts of one dataset (Annotation / Non-Annotation / total) as a viewer sees them
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetCounts:
    """The annotated, non-annotated and total cases of a dataset for one viewer; a cell's ``count`` is
    None where it is suppressed."""

    k: int
    annotated: KeyInformationCell
    non_annotated: KeyInformationCell
    total: KeyInformationCell

    @property
    def suppressed(self) -> bool:
        return any(cell.suppressed for cell in (self.annotated, self.non_annotated, self.total))


def _case_counts(*, annotated: int, non_annotated: int, k: int, exact: bool) -> DatasetCounts:
    """The pair annotated / non-annotated is a distribution of two cells over the total, suppressed by the
    same rule (``_suppression``): one of them under k hides the other (3 and 21 beside 24 would give the
    3 away), and where both are hidden and the total still pins them (4 and 4 beside 8, or 1 and 1) the
    total is hidden too."""
    items = [
        ("annotated", str(_("Annotation")), annotated),
        ("non_annotated", str(_("Non-Annotation")), non_annotated),
    ]
    cells, suppression = _cells_suppress(items, k=k, exact=exact)
    total = _total_cell("total", _("합계"), annotated + non_annotated, k=k, exact=exact)
    if not suppression.resolved and not total.suppressed:
        total = _hidden_total_cell(total)
    return DatasetCounts(k=k, annotated=cells[0], non_annotated=cells[1], total=total)


def dataset_counts_view(*, dataset: Dataset, user: Any) -> DatasetCounts:
    """The case counts of ``dataset`` as ``user`` may see them (the dataset page, the catalogue list, the
    public API and the metadata exports, where ``user`` is None).

    Before a scan the counts are the call's own table, printed in the announcement for everyone: they are
    shown as they are. After one they are the scan's exact counts of real cases, so those who neither
    manage nor audit the dataset see them with small cells suppressed (``MEDBROKER_SMALL_CELL_K``), as on
    the scan card.
    """
    exact = dataset.scanned_at is None or _counts_exact_for(user=user, dataset=dataset)
    return _case_counts(
        annotated=dataset.annotated_count,
        non_annotated=dataset.non_annotated_count,
        k=_small_cell_k(),
        exact=exact,
    )


def _counts_exact_q(user: Any) -> Q | None:
    """The datasets whose counts ``user`` sees exactly, as a filter; None when that is every dataset."""
    if user is not None and user.is_authenticated and user.has_role(Role.OPERATOR, Role.AUDITOR):
        return None
    exact = Q(scanned_at__isnull=True)
    managed = _managed_q(user)
    return exact | managed if managed is not None else exact


def datasets_with_count_order(datasets: QuerySet[Dataset], *, user: Any) -> QuerySet[Dataset]:
    """Annotate the orders of the count columns (``annotated_order``, ``non_annotated_order``,
    ``total_order``) as ``user`` sees the counts.

    A suppressed count sorts with the other suppressed ones, just under k, whatever its value: sorted by
    its value it would sit between visible neighbours that bound it (between a 2 and a 4 it is a 3). This is
    the rule of ``_case_counts`` written as a filter; the tests hold the two to the same answers.
    """
    exact = _counts_exact_q(user)
    if exact is None:
        return datasets.annotate(
            annotated_order=F("annotated_count"),
            non_annotated_order=F("non_annotated_count"),
            total_order=F("total_count"),
        )
    k = _small_cell_k()
    pair_small = Q(annotated_count__gte=1, annotated_count__lt=k) | Q(
        non_annotated_count__gte=1, non_annotated_count__lt=k
    )
    # The total is hidden when it is under k, or when beside it the two hidden counts have one value
    # only: k-1 and k-1, or 1 and k (with k = 2, "< 2" is 1 itself, so a 1 beside any count).
    pinned = Q(annotated_count=k - 1, non_annotated_count=k - 1)
    if k > 2:
        pinned |= Q(annotated_count=1, non_annotated_count=k) | Q(annotated_count=k, non_annotated_count=1)
    else:
        pinned |= Q(annotated_count=1, non_annotated_count__gte=1) | Q(
            non_annotated_count=1, annotated_count__gte=1
        )
    total_hidden = Q(total_count__gte=1, total_count__lt=k) | pinned
    hidden_at = Value(k - 0.5)

    def order(field: str, hidden: Q) -> Case:
        return Case(When(~exact & hidden, then=hidden_at), default=F(field), output_field=FloatField())

    return datasets.annotate(
        annotated_order=order("annotated_count", pair_small & Q(annotated_count__gt=0)),
        non_annotated_order=order("non_annotated_count", pair_small & Q(non_annotated_count__gt=0)),
        total_order=order("total_count", total_hidden),
    )
