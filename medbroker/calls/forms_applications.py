"""Forms of the application pages. They check types and shapes; the rules live in the services.

The edit page is one form made of several parts (plan, eligibility, data, GPU, bonus evidence, documents);
:class:`ApplicationEditForms` binds them together and turns them into the arguments of
``services.applications.application_update``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _

from medbroker.calls.models import (
    Application,
    Call,
    Certification,
    ComputeOption,
    GovernmentProject,
    IntellectualProperty,
)
from medbroker.calls.selectors.consultations import datasets_for_consultation
from medbroker.calls.services.applications import PLAN_FIELDS
from medbroker.calls.services.documents import ACCEPT_ATTRIBUTE
from medbroker.calls.services.eligibility import criterion_mark
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import dataset_counts_view
from medbroker.core.errors import DomainError
from medbroker.core.forms import KrdsFormMixin

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PlanForm(KrdsFormMixin, forms.ModelForm):
    """The business plan sections; only read for its cleaned data, the service writes."""

    class Meta:
        model = Application
        fields = list(PLAN_FIELDS)
        widgets = {name: forms.Textarea(attrs={"rows": 5}) for name in PLAN_FIELDS if name != "project_title"}
        help_texts = {
            "project_title": _("제출에 필요합니다."),
            "summary": _("제출에 필요합니다. 세부 내용은 사업신청서 및 계획서(양식) 파일에 적습니다."),
        }


class EligibilityForm(KrdsFormMixin, forms.Form):
    """One box per criterion ①–④, a free-text ground for each, and the institution of ③."""

    realworld_institution = forms.CharField(
        label=_("실증 예정 의료기관"),
        max_length=200,
        required=False,
        help_text=_("③을 선택했다면 실증할 대구광역시 소재 의료기관의 이름을 적어 주세요."),
    )

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        self.criteria = list(application.call.eligibility_criteria.all())
        declared = {d.criterion_id: d for d in application.eligibility.all()}
        initial: dict[str, Any] = {"realworld_institution": application.realworld_institution}
        for criterion in self.criteria:
            declaration = declared.get(criterion.pk)
            initial[f"declared_{criterion.code}"] = bool(declaration and declaration.declared)
            initial[f"detail_{criterion.code}"] = declaration.detail if declaration else ""
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for criterion in self.criteria:
            self.fields[f"declared_{criterion.code}"] = forms.BooleanField(
                label=f"{criterion_mark(criterion.number)} {criterion.title}", required=False
            )
            self.fields[f"detail_{criterion.code}"] = forms.CharField(
                label=_("근거(선택)"), max_length=300, required=False
            )
            self.fields[f"detail_{criterion.code}"].widget.attrs["class"] = "krds-input"

    def declarations(self) -> dict[str, dict[str, Any]]:
        return {
            c.code: {
                "declared": self.cleaned_data.get(f"declared_{c.code}", False),
                "detail": self.cleaned_data.get(f"detail_{c.code}", ""),
            }
            for c in self.criteria
        }

    def rows(self) -> list[tuple[Any, forms.BoundField, forms.BoundField]]:
        return [(c, self[f"declared_{c.code}"], self[f"detail_{c.code}"]) for c in self.criteria]


class ComputeOptionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        option: ComputeOption = obj
        return _("%(gpu)s %(memory)sGB (CPU %(cpu)s코어 · 메모리 %(ram)sGB · %(storage)s)") % {
            "gpu": option.gpu,
            "memory": option.gpu_memory_gb,
            "cpu": option.cpu_cores,
            "ram": option.memory_gb,
            "storage": option.storage,
        }


class ComputeForm(KrdsFormMixin, forms.Form):
    compute_option = ComputeOptionChoiceField(
        label=_("희망 GPU"),
        queryset=ComputeOption.objects.none(),
        required=False,
        empty_label=_("신청하지 않음"),
        widget=forms.RadioSelect,
        help_text=_("기업당 GPU 1기가 배정됩니다. CPU와 메모리는 공동 자원입니다."),
    )
    compute_intended_use = forms.CharField(
        label=_("컴퓨팅 자원 활용 계획"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("학습할 모델, 데이터 규모, 예상 사용 기간을 적어 주세요."),
    )

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "compute_option": application.compute_option_id,
                "compute_intended_use": application.compute_intended_use,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["compute_option"].queryset = application.call.compute_options.all()  # type: ignore[attr-defined]


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        dataset: Dataset = obj
        # The counts as the public sees them: after a scan, small counts are suppressed for companies.
        counts = dataset_counts_view(dataset=dataset, user=None)
        return _("%(title)s · %(institution)s (Annotation %(annotated)s건 / 전체 %(total)s건)") % {
            "title": dataset.display_title,
            "institution": dataset.institution.name,
            "annotated": counts.annotated.display,
            "total": counts.total.display,
        }


class RowForm(KrdsFormMixin, forms.Form):
    """A row of a formset; an untouched blank row is skipped, a half-filled one must be completed."""

    def __init__(self, *args: Any, call: Call | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.call = call


class DatasetRowForm(RowForm):
    dataset = DatasetChoiceField(
        label=_("데이터셋"), queryset=Dataset.objects.none(), empty_label=_("데이터셋 선택")
    )
    amount = forms.IntegerField(label=_("희망 건수"), min_value=1)
    needs_annotated = forms.BooleanField(label=_("Annotation 데이터 필요"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets_for_consultation()  # type: ignore[attr-defined]


class ProjectRowForm(RowForm):
    # An initial value, so a blank row whose select shows its first option still counts as untouched.
    kind = forms.ChoiceField(
        label=_("구분"), choices=GovernmentProject.Kind.choices, initial=GovernmentProject.Kind.GOVERNMENT
    )
    project_id = forms.CharField(label=_("과제 번호"), max_length=100)
    title = forms.CharField(label=_("과제명"), max_length=300)
    agency = forms.CharField(label=_("전문기관·발주처"), max_length=200, required=False)
    started_on = forms.DateField(label=_("시작일"), widget=DATE_WIDGET)
    ended_on = forms.DateField(label=_("종료일"), widget=DATE_WIDGET)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("started_on") and data.get("ended_on") and data["ended_on"] < data["started_on"]:
            self.add_error("ended_on", _("종료일이 시작일보다 앞설 수 없습니다."))
        return data


class CertificationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        certification: Certification = obj
        return (
            f"{certification.name} · {certification.description}"
            if certification.description
            else certification.name
        )


class CertificationRowForm(RowForm):
    certification = CertificationChoiceField(
        label=_("인증"), queryset=Certification.objects.none(), empty_label=_("인증 선택")
    )
    certificate_number = forms.CharField(label=_("인증 번호"), max_length=100, required=False)
    valid_from = forms.DateField(label=_("유효 시작일"), required=False, widget=DATE_WIDGET)
    valid_until = forms.DateField(label=_("유효 종료일"), required=False, widget=DATE_WIDGET)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset = Certification.objects.filter(call=self.call) if self.call else Certification.objects.none()
        field = self.fields["certification"]
        field.queryset = queryset.order_by("pk")  # type: ignore[attr-defined]
        # Grouped as the announcement lists them (medical device / SW process / SW product and other).
        groups: dict[str, list[tuple[int, str]]] = {}
        for certification in field.queryset:  # type: ignore[attr-defined]
            groups.setdefault(certification.category, []).append(
                (certification.pk, field.label_from_instance(certification))  # type: ignore[attr-defined]
            )
        field.choices = [("", field.empty_label), *groups.items()]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] < data["valid_from"]:
            self.add_error("valid_until", _("유효 종료일이 시작일보다 앞설 수 없습니다."))
        return data


class IntellectualPropertyRowForm(RowForm):
    kind = forms.ChoiceField(
        label=_("구분"), choices=IntellectualProperty.Kind.choices, initial=IntellectualProperty.Kind.PATENT
    )
    registration_number = forms.CharField(label=_("등록 번호"), max_length=100)
    title = forms.CharField(label=_("명칭"), max_length=300)
    registered_on = forms.DateField(label=_("등록일"), widget=DATE_WIDGET)


class UniqueRowsFormSet(BaseFormSet):
    """Drops deleted and blank rows; ``unique_field`` may appear only once."""

    unique_field: str | None = None

    def rows(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in form.cleaned_data.items() if k != "DELETE"}
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self) -> None:
        super().clean()
        if self.unique_field is None or any(self.errors):
            return
        seen: set[Any] = set()
        for row in self.rows():
            value = row.get(self.unique_field)
            if value in seen:
                raise forms.ValidationError(
                    _("같은 항목이 두 번 입력되었습니다: %(value)s") % {"value": value}
                )
            seen.add(value)


class DatasetFormSetBase(UniqueRowsFormSet):
    unique_field = "dataset"


class CertificationFormSetBase(UniqueRowsFormSet):
    unique_field = "certification"


DatasetFormSet = formset_factory(DatasetRowForm, formset=DatasetFormSetBase, extra=0, can_delete=True)
ProjectFormSet = formset_factory(ProjectRowForm, formset=UniqueRowsFormSet, extra=0, can_delete=True)
CertificationFormSet = formset_factory(
    CertificationRowForm, formset=CertificationFormSetBase, extra=0, can_delete=True
)
IntellectualPropertyFormSet = formset_factory(
    IntellectualPropertyRowForm, formset=UniqueRowsFormSet, extra=0, can_delete=True
)

# prefix → (formset class, the related name on Application, the fields of a row taken from a stored row)
FORMSETS: dict[str, tuple[type[BaseFormSet], str, tuple[str, ...]]] = {
    "datasets": (DatasetFormSet, "requested_datasets", ("dataset", "amount", "needs_annotated")),
    "projects": (
        ProjectFormSet,
        "projects",
        ("kind", "project_id", "title", "agency", "started_on", "ended_on"),
    ),
    "certifications": (
        CertificationFormSet,
        "certifications",
        ("certification", "certificate_number", "valid_from", "valid_until"),
    ),
    "ip": (
        IntellectualPropertyFormSet,
        "intellectual_property",
        ("kind", "registration_number", "title", "registered_on"),
    ),
}


def formset_build(prefix: str, application: Application, data: Any = None) -> BaseFormSet:
    formset_class, related, names = FORMSETS[prefix]
    initial = [{name: getattr(row, name) for name in names} for row in getattr(application, related).all()]
    formset = formset_class(data, initial=initial, prefix=prefix, form_kwargs={"call": application.call})
    if data is None and not initial:
        # An empty section shows one blank row to fill in; untouched, it is ignored on saving.
        formset.extra = 1
    return formset


def formset_empty_row(prefix: str, application: Application, index: int) -> forms.Form:
    """A blank row at ``index`` (the "행 추가" button asks for it with htmx)."""
    formset_class, _related, _names = FORMSETS[prefix]
    formset = formset_class(prefix=prefix, form_kwargs={"call": application.call})
    return formset._construct_form(index, **formset.get_form_kwargs(index))  # type: ignore[attr-defined]


def revenue_years(call: Call) -> tuple[list[int], int | None]:
    """The baseline years and the current year of the revenue bonus (announcement §6.1: 2021–2023 vs 2024)."""
    rules = call.bonus_rules.get("revenue", {})
    return [int(y) for y in rules.get("baseline_years", [])], rules.get("current_year")


class RevenueForm(KrdsFormMixin, forms.Form):
    provisional = forms.BooleanField(
        label=_("가결산"),
        required=False,
        help_text=_("재무제표가 아직 발행되지 않아 가결산재무제표 기준으로 적었다면 선택하세요."),
    )

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        baseline, current = revenue_years(application.call)
        self.years = [*baseline, *([current] if current else [])]
        self.current_year = current
        stored = {r.year: r for r in application.revenues.all()}
        initial: dict[str, Any] = {f"revenue_{y}": stored[y].amount_krw for y in self.years if y in stored}
        initial["provisional"] = bool(current in stored and stored[current].provisional)
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for year in self.years:
            self.fields[f"revenue_{year}"] = forms.IntegerField(
                label=_("%(year)d년 매출액(원)") % {"year": year}, min_value=0, required=False
            )
            self.fields[f"revenue_{year}"].widget.attrs.update(
                {"class": "krds-input", "inputmode": "numeric"}
            )

    def year_fields(self) -> list[forms.BoundField]:
        return [self[f"revenue_{year}"] for year in self.years]

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for year in self.years:
            amount = self.cleaned_data.get(f"revenue_{year}")
            if amount is None:
                continue
            provisional = bool(year == self.current_year and self.cleaned_data.get("provisional"))
            rows.append({"year": year, "amount_krw": amount, "provisional": provisional})
        return rows


class DocumentsForm(KrdsFormMixin, forms.Form):
    """One file field per required document of the call; a field left empty keeps the stored file."""

    def __init__(self, *args: Any, application: Application, required_codes: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requirements = sorted(application.call.required_documents.all(), key=lambda r: r.number)
        self.stored = {d.requirement_id: d for d in application.documents.all()}
        self.required_codes = required_codes
        for requirement in self.requirements:
            self.fields[f"document_{requirement.code}"] = forms.FileField(
                label=f"{requirement.number}. {requirement.title}",
                required=False,
                widget=forms.FileInput(attrs={"accept": ACCEPT_ATTRIBUTE}),
            )

    def rows(self) -> list[tuple[Any, Any, forms.BoundField, bool]]:
        return [
            (r, self.stored.get(r.pk), self[f"document_{r.code}"], r.code in self.required_codes)
            for r in self.requirements
        ]

    def uploads(self) -> dict[str, UploadedFile]:
        return {
            r.code: self.cleaned_data[f"document_{r.code}"]
            for r in self.requirements
            if self.cleaned_data.get(f"document_{r.code}")
        }


class ApplicationEditForms:
    """Every part of the edit page, bound together; valid only when all parts are."""

    def __init__(
        self, application: Application, *, required_codes: set[str], data: Any = None, files: Any = None
    ) -> None:
        self.application = application
        self.plan = PlanForm(data, instance=application, prefix="plan")
        self.eligibility = EligibilityForm(data, application=application, prefix="eligibility")
        self.compute = ComputeForm(data, application=application, prefix="compute")
        self.revenue = RevenueForm(data, application=application, prefix="revenue")
        self.documents = DocumentsForm(
            data, files, application=application, required_codes=required_codes, prefix="documents"
        )
        self.formsets = {prefix: formset_build(prefix, application, data) for prefix in FORMSETS}
        self.errors: list[str] = []

    @property
    def parts(self) -> list[Any]:
        return [
            self.plan,
            self.eligibility,
            self.compute,
            self.revenue,
            self.documents,
            *self.formsets.values(),
        ]

    def is_valid(self) -> bool:
        # Every part is validated (no short-circuit), so the page shows all errors at once.
        results = [part.is_valid() for part in self.parts]
        return all(results)

    def update_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``application_update`` from the cleaned data."""
        fields = {name: self.plan.cleaned_data[name] for name in PLAN_FIELDS}
        fields["compute_option"] = self.compute.cleaned_data["compute_option"]
        fields["compute_intended_use"] = self.compute.cleaned_data["compute_intended_use"]
        fields["realworld_institution"] = self.eligibility.cleaned_data["realworld_institution"]
        return {
            "fields": fields,
            "declarations": self.eligibility.declarations(),
            "datasets": self.formsets["datasets"].rows(),  # type: ignore[attr-defined]
            "revenues": self.revenue.rows(),
            "projects": self.formsets["projects"].rows(),  # type: ignore[attr-defined]
            "certifications": self.formsets["certifications"].rows(),  # type: ignore[attr-defined]
            "intellectual_property": self.formsets["ip"].rows(),  # type: ignore[attr-defined]
            "uploads": self.documents.uploads(),
        }

    def add_domain_error(self, error: DomainError) -> None:
        """Show a refusal of the service next to what caused it, or at the top of the page."""
        documents = error.details.get("documents")
        if documents:
            for code, message in documents.items():
                self.documents.add_error(f"document_{code}", message)
            return
        for form in (self.plan, self.compute, self.eligibility):
            if error.field and error.field in form.fields:
                form.add_error(error.field, str(error.message))
                return
        self.errors.append(str(error.message))

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(
            bool(part.errors) or bool(getattr(part, "non_form_errors", list)()) for part in self.parts
        )


class UploadForm(KrdsFormMixin, forms.Form):
    file = forms.FileField(label=_("파일"), widget=forms.FileInput(attrs={"accept": ACCEPT_ATTRIBUTE}))


class WithdrawForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("철회 사유(선택)"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    confirm = forms.BooleanField(
        label=_("신청을 철회하면 되돌릴 수 없으며, 다시 신청하려면 새 신청서를 작성해야 함을 확인합니다."),
        required=False,
    )


class ReturnForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("보완 요청 사유"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("기업에 그대로 보입니다. 무엇을 어떻게 보완해야 하는지 적어 주세요."),
    )


class ConsoleFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("상태"), required=False, choices=[("", _("전체 상태")), *Application.Status.choices]
    )
    eligibility = forms.ChoiceField(
        label=_("신청 자격"),
        required=False,
        choices=[("", _("전체")), ("ok", _("충족")), ("not_ok", _("미충족"))],
    )
    missing = forms.ChoiceField(
        label=_("미제출 서류"),
        required=False,
        choices=[("", _("전체")), ("yes", _("있음")), ("no", _("없음"))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = "krds-form-select"

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {"status": "", "eligibility": "", "missing": ""}
        return {name: self.cleaned_data.get(name) or "" for name in ("status", "eligibility", "missing")}
