"""The operator's committee pages: members, settings, conflicts, the assignment matrix, closing.

Operators run the committee; auditors read the same pages and change nothing (every POST is 403 for
them). Reviewers and companies never reach these pages: the matrix shows who is conflicted on what.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from medbroker.accounts.models import Role, User
from medbroker.accounts.permissions import STAFF_READ_ROLES, role_required
from medbroker.core.errors import DomainError
from medbroker.reviews.forms_committee import (
    AssignmentAddForm,
    CommitteeCreateForm,
    CommitteeSettingsForm,
    ConflictDecideForm,
    MemberAddForm,
    ReasonForm,
)
from medbroker.reviews.models import Assignment, Committee, CommitteeMember, Conflict, ScoreSheet
from medbroker.reviews.selectors.committee import (
    assignment_matrix,
    committee_conflicts,
    committee_get,
    committee_members,
    committees_list,
)
from medbroker.reviews.services.assignments import assignment_add, assignment_remove, assignments_generate
from medbroker.reviews.services.committee import (
    SETTING_FIELDS,
    committee_close,
    committee_create,
    committee_update,
    member_add,
    member_remove,
)
from medbroker.reviews.services.conflicts import conflict_challenge_decide, conflicts_detect
from medbroker.reviews.services.scoring import score_sheet_reopen


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _form_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return _("입력 내용을 확인해 주세요.")


@role_required(*STAFF_READ_ROLES)
def committee_list(request: HttpRequest) -> HttpResponse:
    can_write = _user(request).has_role(Role.OPERATOR)
    return render(
        request,
        "reviews/committee/list.html",
        {
            "rows": committees_list(),
            "can_write": can_write,
            "create_form": CommitteeCreateForm() if can_write else None,
        },
    )


@role_required(Role.OPERATOR)
@require_POST
def committee_new(request: HttpRequest) -> HttpResponse:
    form = CommitteeCreateForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "reviews/committee/list.html",
            {"rows": committees_list(), "can_write": True, "create_form": form},
            status=400,
        )
    try:
        committee = committee_create(
            call=form.cleaned_data["call"],
            name=form.cleaned_data["name"],
            actor=_user(request),
            request=request,
        )
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect("reviews:committee_list")
    messages.success(request, _("평가위원회를 만들었습니다."))
    return redirect("reviews:committee_detail", pk=committee.pk)


def _detail(request: HttpRequest, committee: Committee, *, status: int = 200, **forms: Any) -> HttpResponse:
    can_write = _user(request).has_role(Role.OPERATOR) and committee.status == Committee.Status.OPEN
    context: dict[str, Any] = {
        "committee": committee,
        "members": committee_members(committee),
        "conflicts": committee_conflicts(committee),
        "matrix": assignment_matrix(committee),
        "can_write": can_write,
        "is_operator": _user(request).has_role(Role.OPERATOR),
    }
    if can_write:
        context.update(
            settings_form=forms.get("settings_form") or CommitteeSettingsForm(instance=committee),
            member_form=forms.get("member_form") or MemberAddForm(committee=committee),
            assignment_form=forms.get("assignment_form") or AssignmentAddForm(committee=committee),
            decide_form=ConflictDecideForm(),
            reopen_form=ReasonForm(),
        )
    return render(request, "reviews/committee/detail.html", context, status=status)


@role_required(*STAFF_READ_ROLES)
def committee_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, committee_get(pk))


def _done(request: HttpRequest, committee: Committee, message: str, anchor: str = "") -> HttpResponse:
    messages.success(request, message)
    response = redirect("reviews:committee_detail", pk=committee.pk)
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _refused(request: HttpRequest, committee: Committee, error: DomainError) -> HttpResponse:
    messages.error(request, str(error.message))
    return redirect("reviews:committee_detail", pk=committee.pk)


@role_required(Role.OPERATOR)
@require_POST
def committee_settings(request: HttpRequest, pk: int) -> HttpResponse:
    committee = committee_get(pk)
    form = CommitteeSettingsForm(request.POST, instance=Committee.objects.get(pk=committee.pk))
    if not form.is_valid():
        return _detail(request, committee, status=400, settings_form=form)
    try:
        committee_update(
            committee=committee,
            actor=_user(request),
            request=request,
            **{name: form.cleaned_data[name] for name in SETTING_FIELDS},
        )
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("설정을 저장했습니다."), "settings")


@role_required(Role.OPERATOR)
@require_POST
def member_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = committee_get(pk)
    form = MemberAddForm(request.POST, committee=committee)
    if not form.is_valid():
        return _detail(request, committee, status=400, member_form=form)
    try:
        member = member_add(
            committee=committee,
            user=form.cleaned_data["user"],
            organisation=form.cleaned_data["organisation"],
            expertise=form.cleaned_data["expertise"],
            is_chair=form.cleaned_data["is_chair"],
            declared_relations=list(form.cleaned_data["declared_relations"]),
            actor=_user(request),
            request=request,
        )
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("%(name)s 위원을 위촉했습니다.") % {"name": member.user}, "members")


@role_required(Role.OPERATOR)
@require_POST
def member_remove_view(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    committee = committee_get(pk)
    member = get_object_or_404(
        CommitteeMember.objects.select_related("committee", "user"), pk=member_pk, committee=committee
    )
    try:
        member_remove(member=member, actor=_user(request), request=request)
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("%(name)s 위원을 해촉했습니다.") % {"name": member.user}, "members")


@role_required(Role.OPERATOR)
@require_POST
def conflicts_detect_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = committee_get(pk)
    try:
        found = conflicts_detect(committee, actor=_user(request), request=request)
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(
        request,
        committee,
        _("제척 대상 %(count)d건을 새로 기록했습니다.") % {"count": len(found)},
        "conflicts",
    )


@role_required(Role.OPERATOR)
@require_POST
def conflict_decide(request: HttpRequest, pk: int, conflict_pk: int) -> HttpResponse:
    committee = committee_get(pk)
    conflict = get_object_or_404(Conflict, pk=conflict_pk, member__committee=committee)
    form = ConflictDecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return redirect("reviews:committee_detail", pk=committee.pk)
    try:
        conflict = conflict_challenge_decide(
            conflict,
            form.cleaned_data["decision"] == "upheld",
            form.cleaned_data["decision_reason"],
            _user(request),
            request=request,
        )
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(
        request,
        committee,
        _("기피 신청을 %(status)s했습니다.") % {"status": conflict.get_status_display()},
        "conflicts",
    )


@role_required(Role.OPERATOR)
@require_POST
def assignments_generate_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = committee_get(pk)
    try:
        created = assignments_generate(committee, actor=_user(request), request=request)
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(
        request,
        committee,
        _("평가 배정 %(count)d건을 새로 만들었습니다.") % {"count": len(created)},
        "matrix",
    )


@role_required(Role.OPERATOR)
@require_POST
def assignment_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = committee_get(pk)
    form = AssignmentAddForm(request.POST, committee=committee)
    if not form.is_valid():
        return _detail(request, committee, status=400, assignment_form=form)
    try:
        assignment_add(
            member=form.cleaned_data["member"],
            application=form.cleaned_data["application"],
            actor=_user(request),
            request=request,
        )
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("배정했습니다."), "matrix")


@role_required(Role.OPERATOR)
@require_POST
def assignment_remove_view(request: HttpRequest, pk: int, assignment_pk: int) -> HttpResponse:
    committee = committee_get(pk)
    assignment = get_object_or_404(
        Assignment.objects.select_related("member__committee", "member__user", "application"),
        pk=assignment_pk,
        member__committee=committee,
    )
    try:
        assignment_remove(assignment=assignment, actor=_user(request), request=request)
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("배정을 취소했습니다."), "matrix")


@role_required(Role.OPERATOR)
@require_POST
def sheet_reopen(request: HttpRequest, pk: int, sheet_pk: int) -> HttpResponse:
    committee = committee_get(pk)
    sheet = get_object_or_404(ScoreSheet, pk=sheet_pk, assignment__member__committee=committee)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_error(form))
        return redirect("reviews:committee_detail", pk=committee.pk)
    try:
        score_sheet_reopen(sheet, actor=_user(request), reason=form.cleaned_data["reason"], request=request)
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("평가표를 재작성 상태로 되돌렸습니다."), "matrix")


@role_required(Role.OPERATOR)
@require_POST
def committee_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    committee = committee_get(pk)
    try:
        committee_close(committee=committee, actor=_user(request), request=request)
    except DomainError as error:
        return _refused(request, committee, error)
    return _done(request, committee, _("평가를 종료했습니다. 평가표가 잠겼습니다."))
