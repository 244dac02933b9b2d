"""Runs: computing the results of a submission, once, with everything they depend on recorded.

A run is queued (by a submission, or by an operator running a submission again) and dispatched after the
transaction commits, to a Celery worker or a thread of the web process. ``run_execute`` claims it, copies
what the results will be computed from (the test set's version and hash, the plan's hash, the submission's
hash, the software versions and the sandbox's limits), gets every case's output (the model in the sandbox,
or the predictions file), checks that the model gives the same outputs a second time, computes the results
against the locked plan and writes them in one transaction. A run that fails writes none of that: it says
why, in Korean, and the company and the operators are told either way.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import platform
import threading
import time
from functools import partial
from typing import Any

import numpy as np
import scipy
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import User
from medbroker.accounts.permissions import operator_ensure
from medbroker.accounts.services.notifications import (
    notification_send,
    operator_recipients,
    organisation_recipients,
)
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError
from medbroker.evaluations.models import Evaluation, EvaluationRun, Submission, TaskType, TestCase, TestSet
from medbroker.evaluations.results import json_strict, results_compute
from medbroker.evaluations.sandbox.runner import SandboxError, sandbox_run
from medbroker.evaluations.services.submissions import predictions_read, submission_path
from medbroker.evaluations.services.test_sets import file_sha256, test_set_content_sha256, test_set_folder

logger = logging.getLogger(__name__)

# Progress is written at most this often; ``updated_at`` doubles as the run's heartbeat.
PROGRESS_INTERVAL_S = 0.5
# The determinism check runs this many cases again (the first that succeeded, by case_id).
DETERMINISM_CASES = 5
# Outputs this close are the same output (float32 arithmetic on another thread schedule differs below it).
DETERMINISM_TOLERANCE = 1e-6
# A run waiting for its turn in a thread says so this often, so that it does not look abandoned.
THREAD_WAIT_HEARTBEAT_S = 60.0

# Runs in threads of the web process take turns: each can hold a model's memory and the sandbox's threads,
# and a page that queues many must not start them all at once. The others stay queued until theirs.
_THREAD_SLOT = threading.BoundedSemaphore(1)


class RunFailed(Exception):
    """A run that cannot go on, with the Korean message the run keeps (the company reads it) and, for the
    operators only, a detail that may name a test-set case."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def run_link(run: EvaluationRun) -> str:
    return f"/evaluations/runs/{run.pk}/"


# ---------------------------------------------------------------------------------------------------------
# Queueing
# ---------------------------------------------------------------------------------------------------------


def _in_thread(run_id: int) -> None:
    try:
        while not _THREAD_SLOT.acquire(timeout=THREAD_WAIT_HEARTBEAT_S):
            waiting = EvaluationRun.objects.filter(pk=run_id, status=EvaluationRun.Status.QUEUED).update(
                updated_at=timeutils.now()
            )
            if not waiting:
                # Failed as abandoned (or run elsewhere) while it waited: nothing left to do.
                return
        try:
            run_execute(run_id=run_id)
        finally:
            _THREAD_SLOT.release()
    finally:
        # The thread's own connection; left open it would linger until the server restarts.
        connection.close()


def run_dispatch(run_id: int) -> None:
    """Run it elsewhere than the request: a Celery worker, or a thread of the web process when Celery runs
    in-process (the embedded default), so that the page can show progress instead of waiting."""
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.MEDBROKER_EVALUATION_IN_THREAD:
        threading.Thread(
            target=_in_thread, args=(run_id,), name=f"evaluation-run-{run_id}", daemon=True
        ).start()
        return
    # Imported here: the task module imports this one for the work it wraps.
    from medbroker.evaluations.tasks import evaluation_run_execute

    evaluation_run_execute.delay(run_id)


def run_queue(*, submission: Submission, actor: User, request: HttpRequest | None = None) -> EvaluationRun:
    """A queued run of ``submission`` with its audit event, dispatched after the transaction commits. No
    permission check: ``run_start`` and ``submission_create`` make theirs."""
    with transaction.atomic():
        try:
            # Its own savepoint: the constraint's failure must not spoil a caller's transaction.
            with transaction.atomic():
                run = EvaluationRun.objects.create(submission=submission, requested_by=actor)
        except IntegrityError:
            # The one-active-run constraint decides, so two clicks at once cannot both start a run.
            raise DomainError(
                "run_already_active", _("이 제출물은 이미 대기 중이거나 실행 중입니다."), status_code=409
            ) from None
        audit_record(
            action="evaluations.run_queued",
            actor=actor,
            target=run,
            summary=f"시험 실행 요청: {submission}",
            data={"submission": submission.pk, "evaluation": submission.evaluation_id},
            request=request,
        )
        transaction.on_commit(partial(run_dispatch, run.pk))
    return run


def run_start(*, actor: User, submission: Submission, request: HttpRequest | None = None) -> EvaluationRun:
    """An operator runs a submission again (after a failure, or with a new version of the software)."""
    operator_ensure(actor, _("시험 재실행"))
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().get(pk=submission.evaluation_id)
        if evaluation.status != Evaluation.Status.LOCKED:
            raise DomainError(
                "evaluation_not_locked",
                _("분석계획이 확정되어 진행 중인 시험의 제출물만 실행할 수 있습니다 (현재 상태: %(status)s).")
                % {"status": evaluation.get_status_display()},
                status_code=409,
            )
        return run_queue(submission=submission, actor=actor, request=request)


# ---------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------


class _ProgressWriter:
    """Writes the run's progress at most every ``PROGRESS_INTERVAL_S`` (and always the last step), only
    while it is running: a run failed as abandoned stays failed."""

    def __init__(self, run_id: int, *, count: bool = True) -> None:
        self.run_id = run_id
        self.count = count
        self.written_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.written_at < PROGRESS_INTERVAL_S:
            return
        self.written_at = now
        changes: dict[str, Any] = {"updated_at": timeutils.now()}
        if self.count:
            changes["cases_done"] = min(done, total)
        EvaluationRun.objects.filter(pk=self.run_id, status=EvaluationRun.Status.RUNNING).update(**changes)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _environment() -> dict[str, Any]:
    return {
        "runner": _version("medbroker"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        # From the package's metadata: the web and worker processes never import ONNX Runtime.
        "onnxruntime": _version("onnxruntime"),
    }


def _max_abs_diff(first: Any, second: Any) -> float | None:
    """Largest absolute difference of two outputs; None when they differ in shape (boxes, masks)."""
    try:
        a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if a.shape != b.shape:
        return None
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _determinism_check(
    run: EvaluationRun, outputs: dict[str, Any], inputs: dict[str, Any], sandbox: dict[str, Any]
) -> dict[str, Any]:
    """Run the first cases that succeeded again, in a fresh sandbox, and compare the outputs."""
    chosen = sorted(outputs)[:DETERMINISM_CASES]
    if not chosen:
        return {"cases": [], "identical": None, "max_abs_diff": None}
    try:
        repeat = sandbox_run(
            **sandbox,
            inputs=[(case_id, inputs[case_id]) for case_id in chosen],
            progress=_ProgressWriter(run.pk, count=False),
        )
    except SandboxError as error:
        return {"cases": chosen, "identical": False, "max_abs_diff": None, "error": str(error)}
    differences = [
        _max_abs_diff(outputs[case_id], repeat.outputs[case_id]) if case_id in repeat.outputs else None
        for case_id in chosen
    ]
    known = [difference for difference in differences if difference is not None]
    return {
        "cases": chosen,
        "identical": len(known) == len(chosen) and max(known, default=0.0) <= DETERMINISM_TOLERANCE,
        "max_abs_diff": max(known) if len(known) == len(chosen) else None,
    }


def _test_set_verify(test_set: TestSet, cases: list[TestCase], *, inputs: bool) -> None:
    """The test set's files are still those it was activated with: each input the run reads has the
    SHA-256 its case recorded, and the content hash (cases, references and mask files) is unchanged. A
    file changed or damaged on disk would otherwise give results that the report ties to the old hash."""
    folder = test_set_folder(test_set)
    message = _(
        "시험셋 파일이 확정 당시와 달라(무결성 검사 실패) 실행하지 않았습니다. 운영자에게 문의해 주세요."
    )
    if inputs:
        for case in cases:
            if not case.input_file or not case.input_sha256:
                continue
            try:
                digest = file_sha256(folder / case.input_file)
            except OSError:
                digest = ""
            if digest != case.input_sha256:
                raise RunFailed(
                    message,
                    _("증례 %(case_id)s의 입력 파일(%(file)s)의 SHA-256이 시험셋에 기록된 값과 다릅니다.")
                    % {"case_id": case.case_id, "file": case.input_file},
                )
    if test_set.content_sha256:
        try:
            current = test_set_content_sha256(test_set)
        except OSError:
            current = ""
        if current != test_set.content_sha256:
            raise RunFailed(
                message,
                _("시험셋의 내용 해시(증례·참조 표준·마스크 파일)가 확정 당시 값 %(sha256)s과 다릅니다.")
                % {"sha256": test_set.content_sha256},
            )


def _model_outputs(
    run: EvaluationRun, test_set: TestSet, cases: list[TestCase], environment: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, Any]]:
    submission = run.submission
    folder = test_set_folder(test_set)
    inputs = {case.case_id: folder / case.input_file for case in cases}
    sandbox = {
        "model_path": submission_path(submission),
        "manifest": submission.manifest,
        "case_seconds": settings.MEDBROKER_SANDBOX_CASE_SECONDS,
        "memory_mb": settings.MEDBROKER_SANDBOX_MEMORY_MB,
        "threads": settings.MEDBROKER_SANDBOX_THREADS,
        "task_type": test_set.task_type,
        "classes": len(test_set.classes),
        "require_network_isolation": settings.MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION,
    }
    try:
        result = sandbox_run(**sandbox, inputs=list(inputs.items()), progress=_ProgressWriter(run.pk))
    except SandboxError as error:
        raise RunFailed(str(error)) from None
    sandboxed = result.environment
    environment.update(
        {
            "onnxruntime": sandboxed.get("onnxruntime", environment["onnxruntime"]),
            # What ran the model (the sandbox may use the system's interpreter of the same version).
            "sandbox": {
                name: sandboxed[name] for name in ("python", "numpy", "onnxruntime") if name in sandboxed
            },
            "isolation": sandboxed["isolation"],
            "network_isolated": sandboxed["network_isolated"],
            "separate_user": sandboxed["separate_user"],
            "filesystem_isolated": sandboxed["filesystem_isolated"],
            "limits": sandboxed["limits"],
        }
    )
    determinism = _determinism_check(run, result.outputs, inputs, sandbox)
    return result.outputs, list(result.failures), determinism


def _outputs_json(task_type: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The per-case outputs as stored: scores, probabilities and boxes as they are; a mask by its shape
    and voxels per label (the mask itself would be megabytes per case)."""
    if task_type != TaskType.SEGMENTATION:
        return dict(sorted(outputs.items()))
    stored: dict[str, Any] = {}
    for case_id, mask in sorted(outputs.items()):
        labels, counts = np.unique(np.asarray(mask), return_counts=True)
        stored[case_id] = {
            "shape": [int(size) for size in np.shape(mask)],
            "voxels": {
                str(int(label)): int(count) for label, count in zip(labels, counts, strict=True) if label
            },
        }
    return stored


def _previous_run(run: EvaluationRun) -> EvaluationRun | None:
    """The latest succeeded run, queued before this one, of another submission of the same evaluation (the
    paired comparison's). Never a later one: a run re-run or delayed must compare with what came before it,
    as its first run did, not with a submission made after it."""
    return (
        EvaluationRun.objects.filter(
            Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk),
            submission__evaluation_id=run.submission.evaluation_id,
            status=EvaluationRun.Status.SUCCEEDED,
        )
        .exclude(submission_id=run.submission_id)
        .select_related("submission")
        .order_by("-created_at", "-pk")
        .first()
    )


def _still_running(run_id: int) -> bool:
    """Lock the run's row and say whether it is still running (inside the caller's transaction)."""
    status = (
        EvaluationRun.objects.select_for_update().filter(pk=run_id).values_list("status", flat=True).first()
    )
    return status == EvaluationRun.Status.RUNNING


def _notify(run: EvaluationRun, title: str, body: str, operator_detail: str = "") -> None:
    """Tell the company's members and the operators; ``operator_detail`` (which may name a test-set case,
    never shown to a company) is added for the operators."""
    operators = {user.pk: user for user in operator_recipients()}
    members = {
        user.pk: user
        for user in organisation_recipients(run.submission.evaluation.company)
        if user.pk not in operators
    }
    link = run_link(run)
    if members:
        notification_send(
            users=members.values(), kind="evaluation_run_finished", title=title, body=body, link=link
        )
    if operators:
        notification_send(
            users=operators.values(),
            kind="evaluation_run_finished",
            title=title,
            body=f"{body} {operator_detail}".strip(),
            link=link,
        )


def _execute(run: EvaluationRun) -> EvaluationRun:
    submission = run.submission
    evaluation = submission.evaluation
    test_set = evaluation.test_set
    cases = list(TestCase.objects.filter(test_set=test_set).order_by("case_id"))
    environment = _environment()
    EvaluationRun.objects.filter(pk=run.pk, status=EvaluationRun.Status.RUNNING).update(
        cases_total=len(cases),
        test_set_version=test_set.version,
        test_set_sha256=test_set.content_sha256,
        plan_sha256=evaluation.plan_sha256,
        model_sha256=submission.file_sha256,
        environment=environment,
        updated_at=timeutils.now(),
    )
    _test_set_verify(test_set, cases, inputs=submission.kind == Submission.Kind.MODEL)
    if submission.kind == Submission.Kind.MODEL:
        outputs, failures, determinism = _model_outputs(run, test_set, cases, environment)
    else:
        outputs = predictions_read(submission_path(submission), test_set=test_set, name=submission.file_name)
        failures, determinism = [], {}
    failed = {row["case_id"] for row in failures}
    failures += [
        {"case_id": case.case_id, "reason": "missing", "detail": str(_("제출된 출력이 없습니다."))}
        for case in cases
        if case.case_id not in outputs and case.case_id not in failed
    ]
    previous = (
        _previous_run(run)
        if test_set.task_type == TaskType.BINARY and evaluation.plan.get("compare_with_previous")
        else None
    )
    results = results_compute(
        test_set=test_set,
        plan=evaluation.plan,
        cases=[{"case_id": c.case_id, "reference": c.reference, "attributes": c.attributes} for c in cases],
        outputs=outputs,
        failures=failures,
        previous_outputs=previous.outputs if previous is not None else None,
    )
    if previous is not None and results["comparison"] is not None:
        results["comparison"] = {
            "run_id": previous.pk,
            "label": previous.submission.label or previous.submission.file_name,
            **results["comparison"],
        }
    with transaction.atomic():
        if not _still_running(run.pk):
            run.refresh_from_db()
            return run
        run.refresh_from_db()
        run.status = EvaluationRun.Status.SUCCEEDED
        run.finished_at = timeutils.now()
        run.cases_done = len(cases)
        # Strict JSON (no NaN or infinity), which PostgreSQL's jsonb and SQLite's JSON checks require.
        run.environment = json_strict(environment)
        run.determinism = json_strict(determinism)
        run.outputs = json_strict(_outputs_json(test_set.task_type, outputs))
        run.failures = json_strict(sorted(failures, key=lambda row: row["case_id"]))
        run.results = json_strict(results)
        run.verdict = results["verdict"]
        run.error_message = ""
        run.save()
        audit_record(
            action="evaluations.run_succeeded",
            actor=run.requested_by,
            target=run,
            summary=f"시험 실행 완료: {submission} → {run.get_verdict_display()}",
            data={
                "verdict": run.verdict,
                "cases": len(cases),
                "failed": results["failed"],
                "test_set_sha256": run.test_set_sha256,
                "plan_sha256": run.plan_sha256,
                "model_sha256": run.model_sha256,
                "determinism_identical": determinism.get("identical"),
            },
        )
        _notify(
            run,
            _("성능시험 결과: %(number)s (%(verdict)s)")
            % {"number": evaluation.number, "verdict": run.get_verdict_display()},
            _("'%(name)s'의 시험 실행이 끝났습니다. 결과 화면에서 지표와 판정을 확인해 주세요.")
            % {"name": submission.label or submission.file_name},
        )
    return run


def _failure_record(run_id: int, message: str, detail: str = "") -> EvaluationRun:
    with transaction.atomic():
        run = EvaluationRun.objects.select_related("submission__evaluation__company").get(pk=run_id)
        if not _still_running(run_id):
            # Already failed as abandoned: that failure, and its audit event, stand.
            run.refresh_from_db()
            return run
        run.status = EvaluationRun.Status.FAILED
        run.finished_at = timeutils.now()
        run.error_message = message
        run.save(update_fields=["status", "finished_at", "error_message", "updated_at"])
        audit_record(
            action="evaluations.run_failed",
            actor=run.requested_by,
            target=run,
            summary=f"시험 실행 실패: {run.submission}",
            data={"reason": message, **({"detail": detail} if detail else {})},
        )
        _notify(
            run,
            _("성능시험 실행 실패: %(number)s") % {"number": run.submission.evaluation.number},
            message,
            operator_detail=detail,
        )
    return run


def run_execute(*, run_id: int) -> EvaluationRun:
    """Run a queued run to its end. A run that is not queued any more (a retried task, a second worker) is
    returned as it is, so a run never runs twice. Never raises for a failed run: the run records it."""
    now = timeutils.now()
    with transaction.atomic():
        claimed = EvaluationRun.objects.filter(pk=run_id, status=EvaluationRun.Status.QUEUED).update(
            status=EvaluationRun.Status.RUNNING, started_at=now, cases_done=0, updated_at=now
        )
        run = EvaluationRun.objects.select_related(
            "submission__evaluation__test_set", "submission__evaluation__company", "requested_by"
        ).get(pk=run_id)
        if claimed:
            audit_record(
                action="evaluations.run_started",
                actor=run.requested_by,
                target=run,
                summary=f"시험 실행 시작: {run.submission}",
                data={"submission": run.submission_id, "kind": run.submission.kind},
            )
    if not claimed:
        return run
    try:
        return _execute(run)
    except RunFailed as failure:
        return _failure_record(run_id, str(failure), failure.detail)
    except DomainError as error:
        return _failure_record(run_id, str(error.message))
    except Exception:
        # The traceback goes to the server's log; the run, which the company reads, gets a plain sentence.
        logger.exception("evaluation run %s failed", run_id)
        return _failure_record(
            run_id, _("시험 실행 중 예상하지 못한 오류가 발생했습니다. 시스템 관리자에게 문의해 주세요.")
        )


def runs_abandon_stale() -> int:
    """Fail the queued or running runs silent for MEDBROKER_EVALUATION_STALE_MINUTES; returns how many.

    A run whose worker died (a restarted web process running it in a thread, a killed Celery worker) would
    otherwise stay active for ever, and the one-active-run rule would refuse every later run of its
    submission. Progress writes keep ``updated_at`` current while a run works, so only a silent run fails.
    """
    cutoff = timeutils.now() - dt.timedelta(minutes=settings.MEDBROKER_EVALUATION_STALE_MINUTES)
    stale = EvaluationRun.objects.filter(
        status__in=(EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING), updated_at__lt=cutoff
    ).select_related("submission__evaluation__company")
    message = _(
        "실행이 응답 없이 멈추어 중단 처리했습니다(서버 재시작 등). 운영자가 다시 실행할 수 있습니다."
    )
    failed = 0
    with transaction.atomic():
        for run in stale.select_for_update(of=("self",)):
            last_sign_of_life = run.updated_at.isoformat()
            previous = run.status
            run.status = EvaluationRun.Status.FAILED
            run.finished_at = timeutils.now()
            run.error_message = message
            run.save(update_fields=["status", "finished_at", "error_message", "updated_at"])
            audit_record(
                action="evaluations.run_abandoned",
                actor=None,
                target=run,
                summary=f"멈춘 시험 실행 중단 처리: {run.submission}",
                data={"previous_status": previous, "last_sign_of_life": last_sign_of_life},
            )
            _notify(
                run,
                _("성능시험 실행 중단: %(number)s") % {"number": run.submission.evaluation.number},
                message,
            )
            failed += 1
    return failed
