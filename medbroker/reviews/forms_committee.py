"""Forms of the committee pages (operator), the reviewer's pages and the company's 기피 request."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation, Role, User
from medbroker.calls.models import Application, Call
from medbroker.core.forms import KrdsFormMixin
from medbroker.reviews.models import Committee, CommitteeMember
from medbroker.reviews.services.committee import SETTING_FIELDS


class CommitteeCreateForm(KrdsFormMixin, forms.Form):
    call = forms.ModelChoiceField(label=_("공모"), queryset=Call.objects.none())
    name = forms.CharField(label=_("위원회 이름"), max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["call"].queryset = Call.objects.filter(committee__isnull=True).order_by(  # type: ignore[attr-defined]
            "-intake_opens_at"
        )


class CommitteeSettingsForm(KrdsFormMixin, forms.ModelForm):
    class Meta:
        model = Committee
        fields = SETTING_FIELDS


class MemberAddForm(KrdsFormMixin, forms.Form):
    user = forms.ModelChoiceField(label=_("위원(평가위원 계정)"), queryset=User.objects.none())
    organisation = forms.ModelChoiceField(
        label=_("소속"),
        queryset=Organisation.objects.order_by("name"),
        required=False,
        help_text=_("비워 두면 계정의 소속 기관을 씁니다."),
    )
    expertise = forms.CharField(label=_("전문 분야"), max_length=200, required=False)
    is_chair = forms.BooleanField(label=_("위원장"), required=False)
    declared_relations = forms.ModelMultipleChoiceField(
        label=_("이해관계 신고 기업"),
        queryset=Organisation.objects.filter(kind=Organisation.Kind.COMPANY).order_by("name"),
        required=False,
        help_text=_("재직·자문·지분 등 이해관계를 신고한 기업: 해당 기업의 신청서에서 제척됩니다."),
    )

    def __init__(self, *args: Any, committee: Committee, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(role_assignments__role=Role.REVIEWER, is_active=True)
            .exclude(committee_seats__committee=committee)
            .select_related("organisation")
            .order_by("username")
        )


class AssignmentAddForm(KrdsFormMixin, forms.Form):
    member = forms.ModelChoiceField(label=_("위원"), queryset=CommitteeMember.objects.none())
    application = forms.ModelChoiceField(label=_("신청서"), queryset=Application.objects.none())

    def __init__(self, *args: Any, committee: Committee, **kwargs: Any) -> None:
        from medbroker.reviews.selectors.committee import REVIEWABLE_STATUSES

        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = committee.members.select_related("user").order_by("pk")  # type: ignore[attr-defined]
        self.fields["application"].queryset = (  # type: ignore[attr-defined]
            Application.objects.filter(call_id=committee.call_id, status__in=REVIEWABLE_STATUSES)
            .select_related("company")
            .order_by("receipt_number")
        )


class ConflictDecideForm(KrdsFormMixin, forms.Form):
    decision = forms.ChoiceField(
        label=_("결정"),
        choices=[("upheld", _("인정(위원 제외)")), ("rejected", _("기각"))],
        widget=forms.RadioSelect,
    )
    decision_reason = forms.CharField(label=_("결정 사유"), widget=forms.Textarea(attrs={"rows": 2}))


class ReasonForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(label=_("사유"), widget=forms.Textarea(attrs={"rows": 2}))


class ChallengeForm(KrdsFormMixin, forms.Form):
    member = forms.ModelChoiceField(label=_("기피 신청 위원"), queryset=CommitteeMember.objects.none())
    reason = forms.CharField(
        label=_("기피 사유"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("공정한 평가를 기대하기 어려운 구체적 사정을 적어 주세요."),
    )

    def __init__(self, *args: Any, committee: Committee, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["member"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = committee.members.select_related("user", "organisation").order_by("pk")
        field.label_from_instance = member_public_label  # type: ignore[method-assign,assignment]


def member_public_label(member: CommitteeMember) -> str:
    """How a company sees a member: name and organisation, as commonly disclosed; no account details."""
    name = str(member.user)
    return f"{name} · {member.organisation}" if member.organisation else name
