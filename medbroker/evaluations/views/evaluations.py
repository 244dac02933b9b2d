"""Evaluations: the list, one evaluation with its analysis plan and submissions, and what changes them.

Operators create an evaluation for an accepted performance-test request, write and lock its plan, rerun a
submission and close the evaluation; the company's members submit models or predictions once the plan is
locked; auditors read. A company sees the test set's name, version, task and case count, never its cases.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from medbroker.accounts.models import Role
from medbroker.accounts.permissions import role_required
from medbroker.core.errors import DomainError, NotFoundError
from medbroker.core.tables import table_build
from medbroker.evaluations.forms import (
    EvaluationCreateForm,
    PlanForm,
    SubmissionForm,
    acceptance_formset,
    acceptance_rows,
)
from medbroker.evaluations.models import Evaluation, Submission
from medbroker.evaluations.selectors import (
    evaluation_for_user,
    evaluation_submissions,
    evaluations_visible_to,
    plan_view,
    run_active,
    submission_quota_left,
    test_request_accepted_for_operator,
    user_is_staff,
)
from medbroker.evaluations.services.evaluations import (
    evaluation_close,
    evaluation_create,
    evaluation_plan_lock,
    evaluation_plan_update,
)
from medbroker.evaluations.services.runs import run_start
from medbroker.evaluations.services.submissions import submission_create
from medbroker.evaluations.views.common import (
    READ_ROLES,
    error_message,
    form_error_add,
    found_or_404,
    user_of,
)


@role_required(*READ_ROLES)
@require_GET
def evaluation_list(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    evaluations = evaluations_visible_to(user)
    status = request.GET.get("status", "")
    if status in Evaluation.Status.values:
        evaluations = evaluations.filter(status=status)
    table = table_build(
        request,
        evaluations,
        sortable={
            "created_at": "created_at",
            "number": "number",
            "company": "company__name",
            "status": "status",
        },
        default_sort="-created_at",
    )
    return render(
        request,
        "evaluations/evaluation_list.html",
        {
            "table": table,
            "statuses": Evaluation.Status.choices,
            "status": status,
            "is_staff": user_is_staff(user),
            "is_operator": user.has_role(Role.OPERATOR),
        },
    )


@role_required(Role.OPERATOR)
@require_http_methods(["GET", "POST"])
def evaluation_create_view(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("request") or request.POST.get("request") or ""
    if not raw.isdigit():
        raise Http404(_("성능시험 요청을 지정해 주세요."))
    try:
        test_request = test_request_accepted_for_operator(user_of(request), int(raw))
    except NotFoundError as error:
        raise Http404(str(error.message)) from None
    form = EvaluationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            evaluation = evaluation_create(
                actor=user_of(request),
                test_request=test_request,
                test_set=form.cleaned_data["test_set"],
                request=request,
            )
        except DomainError as error:
            form_error_add(form, error)
        else:
            messages.success(
                request,
                _("성능시험 %(number)s을(를) 만들었습니다. 분석계획을 정한 뒤 확정하십시오.")
                % {"number": evaluation.number},
            )
            return redirect("evaluations:evaluation_detail", pk=evaluation.pk)
    return render(
        request,
        "evaluations/evaluation_create.html",
        {"form": form, "test_request": test_request},
    )


def _detail(
    request: HttpRequest,
    evaluation: Evaluation,
    *,
    plan_form: PlanForm | None = None,
    formset: Any = None,
    submission_form: SubmissionForm | None = None,
) -> HttpResponse:
    user = user_of(request)
    is_operator = user.has_role(Role.OPERATOR)
    is_member = user.has_role(Role.APPLICANT) and user.organisation_id == evaluation.company_id
    draft = evaluation.status == Evaluation.Status.DRAFT
    submissions = evaluation_submissions(evaluation)
    can_edit_plan = is_operator and draft
    if can_edit_plan and plan_form is None:
        plan_form = PlanForm(evaluation=evaluation)
        formset = acceptance_formset(evaluation, metrics=plan_form.metrics)
    quota_left = submission_quota_left(evaluation)
    can_submit = is_member and evaluation.status == Evaluation.Status.LOCKED
    rows = []
    for submission in submissions:
        runs = list(submission.runs.all())
        rows.append(
            {
                "submission": submission,
                "runs": runs,
                "active": any(run_active(run) for run in runs),
            }
        )
    return render(
        request,
        "evaluations/evaluation_detail.html",
        {
            "evaluation": evaluation,
            "test_set": evaluation.test_set,
            "case_count": evaluation.test_set.cases.count(),
            "test_request": evaluation.test_request,
            "plan": plan_view(evaluation.plan, task_type=evaluation.test_set.task_type),
            "plan_form": plan_form if can_edit_plan else None,
            "acceptance_formset": formset if can_edit_plan else None,
            "can_lock": can_edit_plan,
            "can_close": is_operator and evaluation.status == Evaluation.Status.LOCKED,
            "can_rerun": is_operator and evaluation.status == Evaluation.Status.LOCKED,
            "is_operator": is_operator,
            "is_staff": user_is_staff(user),
            "is_member": is_member,
            "rows": rows,
            "can_submit": can_submit,
            "quota_left": quota_left,
            "quota_days": settings.MEDBROKER_EVALUATION_QUOTA_DAYS,
            "small_cell_k": settings.MEDBROKER_SMALL_CELL_K,
            "submission_form": (
                (submission_form or SubmissionForm(task_type=evaluation.test_set.task_type))
                if can_submit
                else None
            ),
            "kind_model": Submission.Kind.MODEL,
            "kind_predictions": Submission.Kind.PREDICTIONS,
        },
    )


@role_required(*READ_ROLES)
@require_GET
def evaluation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, found_or_404(evaluation_for_user, request, pk))


@role_required(Role.OPERATOR)
@require_POST
def evaluation_plan_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = found_or_404(evaluation_for_user, request, pk)
    form = PlanForm(request.POST, evaluation=evaluation)
    formset = acceptance_formset(evaluation, request.POST, metrics=form.metrics)
    if form.is_valid() and formset.is_valid():
        try:
            evaluation_plan_update(
                actor=user_of(request),
                evaluation=evaluation,
                plan=form.plan(acceptance_rows(formset)),
                request=request,
            )
        except DomainError as error:
            form_error_add(form, error)
        else:
            messages.success(request, _("분석계획을 저장했습니다."))
            return redirect("evaluations:evaluation_detail", pk=evaluation.pk)
    return _detail(request, evaluation, plan_form=form, formset=formset)


@role_required(Role.OPERATOR)
@require_POST
def evaluation_plan_lock_view(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = found_or_404(evaluation_for_user, request, pk)
    try:
        evaluation = evaluation_plan_lock(actor=user_of(request), evaluation=evaluation, request=request)
    except DomainError as error:
        error_message(request, error)
    else:
        messages.success(
            request,
            _("분석계획을 확정했습니다(SHA-256 %(hash)s). 이제 기업이 제출할 수 있습니다.")
            % {"hash": evaluation.plan_sha256[:12]},
        )
    return redirect("evaluations:evaluation_detail", pk=pk)


@role_required(Role.OPERATOR)
@require_POST
def evaluation_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = found_or_404(evaluation_for_user, request, pk)
    try:
        evaluation = evaluation_close(actor=user_of(request), evaluation=evaluation, request=request)
    except DomainError as error:
        error_message(request, error)
    else:
        messages.success(
            request, _("성능시험 %(number)s을(를) 종료했습니다.") % {"number": evaluation.number}
        )
    return redirect("evaluations:evaluation_detail", pk=pk)


@role_required(Role.APPLICANT)
@require_POST
def submission_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = found_or_404(evaluation_for_user, request, pk)
    form = SubmissionForm(request.POST, request.FILES, task_type=evaluation.test_set.task_type)
    if form.is_valid():
        try:
            submission = submission_create(
                actor=user_of(request),
                evaluation=evaluation,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                manifest=form.manifest(),
                label=form.cleaned_data.get("label") or "",
                request=request,
            )
        except DomainError as error:
            form_error_add(form, error)
        else:
            messages.success(
                request,
                _("'%(name)s'을(를) 제출했습니다. 시험이 끝나면 결과가 아래에 표시됩니다.")
                % {"name": submission.label or submission.file_name},
            )
            return redirect("evaluations:evaluation_detail", pk=evaluation.pk)
    return _detail(request, evaluation, submission_form=form)


@role_required(Role.OPERATOR)
@require_POST
def run_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The operator's "다시 실행": a new run of a submission (after a failure or a runner update)."""
    submission = (
        Submission.objects.select_related("evaluation")
        .filter(pk=pk, evaluation__in=evaluations_visible_to(user_of(request)))
        .first()
    )
    if submission is None:
        raise Http404(_("제출물을 찾을 수 없습니다."))
    try:
        run = run_start(actor=user_of(request), submission=submission, request=request)
    except DomainError as error:
        error_message(request, error)
        return redirect("evaluations:evaluation_detail", pk=submission.evaluation_id)
    messages.success(request, _("시험 실행 #%(run)d을(를) 시작했습니다.") % {"run": run.pk})
    return redirect("evaluations:run_detail", pk=run.pk)
