"""Runs, end to end: a test set made through the services, an evaluation with a locked plan, a company's model
or predictions file, the run (inline: no thread, eager Celery) and its results, hashes, environment and
determinism check; failures recorded in Korean with nothing half-written; re-runs and abandoned runs."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import types
import zipfile
from typing import Any

import numpy as np
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import Notification, Organisation, User
from medbroker.agreements.tests.factories import DURING_SUPPORT
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.evaluations import models, results, testdata
from medbroker.evaluations.metrics.classification import binary_metrics, worst_case_scores
from medbroker.evaluations.metrics.segmentation import segmentation_case, segmentation_summary
from medbroker.evaluations.plans import plan_default
from medbroker.evaluations.sandbox import runner
from medbroker.evaluations.services import runs
from medbroker.evaluations.services.evaluations import (
    evaluation_close,
    evaluation_create,
    evaluation_plan_lock,
    evaluation_plan_update,
)
from medbroker.evaluations.services.runs import run_dispatch, run_execute, run_start, runs_abandon_stale
from medbroker.evaluations.services.submissions import submission_create
from medbroker.evaluations.tests.conftest import active_test_set
from medbroker.evaluations.tests.factories import EvaluationRunFactory, accepted_test_request

pytestmark = pytest.mark.django_db

MODEL = testdata.tiny_classifier_model_bytes()
ACCEPTANCE = [{"metric": "sensitivity", "bound": "value", "operator": ">=", "value": 0.8}]


@pytest.fixture(autouse=True)
def _sandbox_settings(settings: Any) -> None:
    # Anywhere the tests run: where the network cannot be isolated the run says so instead of failing.
    settings.MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION = False
    settings.MEDBROKER_SANDBOX_MEMORY_MB = 1024


def _locked_evaluation(
    operator: User, company: Organisation, test_set: models.TestSet, **plan: Any
) -> models.Evaluation:
    evaluation = evaluation_create(
        actor=operator, test_request=accepted_test_request(company), test_set=test_set
    )
    evaluation_plan_update(
        actor=operator,
        evaluation=evaluation,
        plan={**plan_default(test_set.task_type), "bootstrap_resamples": 500, **plan},
    )
    return evaluation_plan_lock(actor=operator, evaluation=evaluation)


def _submit(
    capture: Any,
    applicant: User,
    evaluation: models.Evaluation,
    name: str,
    content: bytes,
    manifest: dict[str, Any] | None = None,
    label: str = "",
) -> models.EvaluationRun:
    with capture(execute=True):
        submission = submission_create(
            actor=applicant,
            evaluation=evaluation,
            kind="model" if manifest else "predictions",
            upload=SimpleUploadedFile(name, content),
            manifest=manifest,
            label=label,
        )
    return models.EvaluationRun.objects.get(submission=submission)


def _truth(files: tuple[bytes, bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[0].decode())))


def test_a_model_is_run_and_judged_against_the_locked_plan(
    operator: User,
    applicant: User,
    company: Organisation,
    django_capture_on_commit_callbacks: Any,
    clock: Any,
) -> None:
    files = testdata.classification_test_set_files(40, seed=3)
    test_set = active_test_set(operator, files)
    evaluation = _locked_evaluation(operator, company, test_set, acceptance=ACCEPTANCE)

    run = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        evaluation,
        "model.onnx",
        MODEL,
        testdata.CLASSIFIER_MANIFEST,
    )

    # What the model must give, computed from the images themselves.
    arrays = testdata.archive_arrays(files[1])
    expected = {
        row["case_id"]: testdata.classifier_probability(arrays[row["input"]]) for row in _truth(files)
    }
    labels = {row["case_id"]: int(row["label"]) for row in _truth(files)}
    assert min(abs(p - 0.5) for p in expected.values()) > 1e-3
    counts = {
        "tp": sum(labels[c] == 1 and p >= 0.5 for c, p in expected.items()),
        "fp": sum(labels[c] == 0 and p >= 0.5 for c, p in expected.items()),
        "tn": sum(labels[c] == 0 and p < 0.5 for c, p in expected.items()),
        "fn": sum(labels[c] == 1 and p < 0.5 for c, p in expected.items()),
    }
    assert counts == {"tp": 16, "fp": 3, "tn": 17, "fn": 4}
    run.refresh_from_db()
    assert (run.status, run.error_message, run.cases_total, run.cases_done) == ("succeeded", "", 40, 40)
    assert run.outputs == pytest.approx(expected, abs=1e-5)
    assert (run.failures, run.results["counts"], run.results["n"], run.results["failed"]) == (
        [],
        counts,
        40,
        0,
    )
    assert run.results["metrics"]["sensitivity"]["value"] == 0.8
    assert (run.verdict, run.results["verdict"]) == ("pass", "pass")
    # What the results were computed from.
    assert (run.test_set_version, run.test_set_sha256, run.plan_sha256, run.model_sha256) == (
        "1.0",
        test_set.content_sha256,
        evaluation.plan_sha256,
        hashlib.sha256(MODEL).hexdigest(),
    )
    assert (run.started_at, run.finished_at) == (DURING_SUPPORT, DURING_SUPPORT)
    isolation = runner.isolation_probe()
    assert run.environment["runner"] == "0.1.0"
    assert set(run.environment) == {
        "runner",
        "python",
        "numpy",
        "scipy",
        "onnxruntime",
        "sandbox",
        "isolation",
        "network_isolated",
        "separate_user",
        "filesystem_isolated",
        "limits",
    }
    assert (
        run.environment["network_isolated"],
        run.environment["isolation"],
        run.environment["filesystem_isolated"],
    ) == (isolation.network_isolated, isolation.name, isolation.jail is not None)
    assert run.environment["limits"]["memory_mb"] == 1024
    assert set(run.environment["sandbox"]) == {"python", "numpy", "onnxruntime"}
    assert run.determinism == {
        "cases": ["C0001", "C0002", "C0003", "C0004", "C0005"],
        "identical": True,
        "max_abs_diff": 0.0,
    }
    actions = list(
        AuditEvent.objects.filter(object_id=str(run.pk)).order_by("sequence").values_list("action", flat=True)
    )
    assert [a for a in actions if a.startswith("evaluations.run")] == [
        "evaluations.run_queued",
        "evaluations.run_started",
        "evaluations.run_succeeded",
    ]
    for user in (applicant, operator):
        notice = Notification.objects.get(user=user, kind="evaluation_run_finished")
        assert (notice.title, notice.link) == (
            f"성능시험 결과: {evaluation.number} (적합)",
            f"/evaluations/runs/{run.pk}/",
        )


def test_predictions_are_scored_like_the_metric_functions_score_them(
    operator: User,
    applicant: User,
    company: Organisation,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.MEDBROKER_SMALL_CELL_K = 5
    files = testdata.classification_test_set_files(30, seed=8)
    test_set = active_test_set(operator, files)
    evaluation = _locked_evaluation(operator, company, test_set, acceptance=ACCEPTANCE)
    truth = _truth(files)
    rng = np.random.default_rng(1)
    scores = {row["case_id"]: float(np.round(rng.uniform(0, 1), 4)) for row in truth}
    missing = ["C0004", "C0017"]
    rows = "".join(f"{case_id},{score}\n" for case_id, score in scores.items() if case_id not in missing)

    run = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        evaluation,
        "scores.csv",
        f"case_id,score\n{rows}".encode(),
    )

    run.refresh_from_db()
    labels = np.array([int(row["label"]) for row in truth])
    failed = np.array([row["case_id"] in missing for row in truth])
    raw = np.array([np.nan if row["case_id"] in missing else scores[row["case_id"]] for row in truth])
    filled = worst_case_scores(labels, raw, failed, threshold=0.5)
    expected = binary_metrics(labels, filled, threshold=0.5, bootstrap_resamples=500, seed=20251)
    assert run.status == "succeeded"
    assert run.results["metrics"] == expected["metrics"]
    assert run.results["counts"] == expected["counts"]
    assert run.results["failures_by_reason"] == {"timeout": 0, "error": 0, "missing": 2}
    assert run.failures == [
        {"case_id": case_id, "reason": "missing", "detail": "제출된 출력이 없습니다."} for case_id in missing
    ]
    assert run.determinism == {}
    assert run.outputs == {case_id: score for case_id, score in scores.items() if case_id not in missing}
    assert [row["value"] for row in run.results["subgroups"] if row["attribute"] == "sex"] == ["F", "M"]


def test_a_later_submission_is_compared_with_the_earlier_one(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    files = testdata.classification_test_set_files(20, seed=2)
    test_set = active_test_set(operator, files)
    evaluation = _locked_evaluation(operator, company, test_set)
    truth = _truth(files)
    first = "case_id,score\n" + "".join(
        f"{row['case_id']},{0.3 + 0.4 * int(row['label'])}\n" for row in truth
    )
    earlier = _submit(
        django_capture_on_commit_callbacks, applicant, evaluation, "a.csv", first.encode(), label="1차"
    )

    later = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        evaluation,
        "model.onnx",
        MODEL,
        testdata.CLASSIFIER_MANIFEST,
    )

    earlier.refresh_from_db()
    later.refresh_from_db()
    comparison = later.results["comparison"]
    assert earlier.results["comparison"] is None
    assert (comparison["run_id"], comparison["label"], comparison["method"]) == (
        earlier.pk,
        "1차",
        "delong-paired",
    )
    assert (comparison["auc_a"], comparison["auc_b"]) == (
        later.results["metrics"]["auroc"]["value"],
        earlier.results["metrics"]["auroc"]["value"],
    )


def test_other_tasks_run_end_to_end(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    segmentation_files = testdata.segmentation_test_set_files(4, seed=1)
    segmentation_set = active_test_set(operator, segmentation_files, task_type="segmentation", name="분할")
    multiclass_files = testdata.multiclass_test_set_files(12, seed=1)
    multiclass_set = active_test_set(operator, multiclass_files, task_type="multiclass", name="다중")
    detection_set = active_test_set(
        operator, testdata.detection_test_set_files(6, seed=1), task_type="detection", name="검출"
    )

    segmentation = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        _locked_evaluation(operator, company, segmentation_set),
        "model.onnx",
        testdata.segmentation_model_bytes(),
        testdata.SEGMENTATION_MANIFEST,
    )
    evaluation_close(actor=operator, evaluation=segmentation.submission.evaluation)
    multiclass = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        _locked_evaluation(operator, company, multiclass_set),
        "model.onnx",
        testdata.multiclass_model_bytes(),
        testdata.MULTICLASS_MANIFEST,
    )
    evaluation_close(actor=operator, evaluation=multiclass.submission.evaluation)
    detection = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        _locked_evaluation(operator, company, detection_set),
        "model.onnx",
        testdata.detection_model_bytes(),
        testdata.DETECTION_MANIFEST,
    )

    for run in (segmentation, multiclass, detection):
        run.refresh_from_db()
        assert (run.status, run.error_message, run.failures) == ("succeeded", "", [])
    # Segmentation: the model's masks are the images above 0.5; Dice per case from the metric function.
    arrays = testdata.archive_arrays(segmentation_files[1])
    cases = [
        segmentation_case(
            arrays[f"masks/S{index:04d}.npy"] == 1,
            arrays[f"inputs/S{index:04d}.npy"] > 0.5,
            spacing=(1.0, 1.0),
            tolerance_mm=2.0,
        )
        for index in range(1, 5)
    ]
    expected = segmentation_summary(cases, confidence=0.95, bootstrap_resamples=500, seed=20251)
    assert segmentation.results["metrics"] == segmentation.results["per_class"]["결절"] == expected
    assert segmentation.outputs["S0001"] == {
        "shape": [32, 32],
        "voxels": {"1": int((arrays["inputs/S0001.npy"] > 0.5).sum())},
    }
    assert segmentation.determinism["identical"] is True
    # Multi-class: the class of the largest logit w_k · mean + c_k, computed from the images.
    arrays = testdata.archive_arrays(multiclass_files[1])
    right = 0
    for row in _truth(multiclass_files):
        mean = float(np.mean(arrays[row["input"]], dtype=np.float32))
        logits = [
            w * mean + c for w, c in zip(testdata.MULTICLASS_WEIGHTS, testdata.MULTICLASS_BIASES, strict=True)
        ]
        right += int(np.argmax(logits)) == int(row["label"])
    assert right == 11
    assert multiclass.results["metrics"]["accuracy"]["value"] == right / 12
    assert len(multiclass.outputs["M0001"]) == 3
    # Detection: every lesion's peak is the brightest pixel, so each is found with one box.
    assert detection.results["metrics"]["sensitivity_at_1"]["value"] == 1.0
    assert detection.outputs["D0003"] != [] and len(detection.outputs["D0001"]) == 1


def test_a_model_that_does_not_load_fails_the_run_and_writes_nothing_else(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    test_set = active_test_set(operator, testdata.classification_test_set_files(6, seed=1))
    evaluation = _locked_evaluation(operator, company, test_set)

    run = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        evaluation,
        "model.onnx",
        testdata.hostile_model_bytes("garbage"),
        testdata.CLASSIFIER_MANIFEST,
    )

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error_message.startswith("모델을 불러오지 못했습니다: InvalidProtobuf")
    assert (run.results, run.outputs, run.failures, run.determinism, run.verdict) == ({}, {}, [], {}, "")
    assert run.finished_at is not None
    assert AuditEvent.objects.get(action="evaluations.run_failed").data == {"reason": run.error_message}
    notice = Notification.objects.get(user=applicant, kind="evaluation_run_finished")
    assert (notice.title, notice.body) == (f"성능시험 실행 실패: {evaluation.number}", run.error_message)


def test_without_network_isolation_a_run_fails_when_it_is_required(
    operator: User,
    applicant: User,
    company: Organisation,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.MEDBROKER_SANDBOX_REQUIRE_NETWORK_ISOLATION = True
    monkeypatch.setattr(runner, "isolation_probe", lambda: runner.NO_ISOLATION)
    test_set = active_test_set(operator, testdata.classification_test_set_files(6, seed=1))
    evaluation = _locked_evaluation(operator, company, test_set)

    run = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        evaluation,
        "model.onnx",
        MODEL,
        testdata.CLASSIFIER_MANIFEST,
    )

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error_message.startswith("모델 실행 환경을 네트워크에서 격리할 수 없어 실행하지 않았습니다.")
    assert run.results == {}


def test_an_unexpected_error_fails_the_run_with_a_plain_sentence(
    operator: User,
    applicant: User,
    company: Organisation,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("division by zero somewhere")

    monkeypatch.setattr(runs, "results_compute", broken)
    test_set = active_test_set(operator, testdata.classification_test_set_files(6, seed=1))
    evaluation = _locked_evaluation(operator, company, test_set)

    run = _submit(
        django_capture_on_commit_callbacks, applicant, evaluation, "s.csv", b"case_id,score\nC0001,0.5\n"
    )

    run.refresh_from_db()
    assert (run.status, run.error_message, run.results) == (
        "failed",
        "시험 실행 중 예상하지 못한 오류가 발생했습니다. 시스템 관리자에게 문의해 주세요.",
        {},
    )


def test_a_run_that_is_not_queued_is_left_alone(company: Organisation) -> None:
    for status in (models.EvaluationRun.Status.RUNNING, models.EvaluationRun.Status.SUCCEEDED):
        run = EvaluationRunFactory(status=status, submission__evaluation__company=company)

        returned = run_execute(run_id=run.pk)

        assert (returned.status, returned.started_at, returned.results) == (status, None, {})
    assert not AuditEvent.objects.filter(action__startswith="evaluations.run").exists()


def test_a_run_abandoned_meanwhile_keeps_its_failure(
    operator: User,
    applicant: User,
    company: Organisation,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compute = results.results_compute

    def abandoned_meanwhile(**kwargs: Any) -> dict[str, Any]:
        models.EvaluationRun.objects.update(status=models.EvaluationRun.Status.FAILED, error_message="중단")
        return compute(**kwargs)

    monkeypatch.setattr(runs, "results_compute", abandoned_meanwhile)
    test_set = active_test_set(operator, testdata.classification_test_set_files(6, seed=1))
    evaluation = _locked_evaluation(operator, company, test_set)

    run = _submit(
        django_capture_on_commit_callbacks, applicant, evaluation, "s.csv", b"case_id,score\nC0001,0.5\n"
    )

    run.refresh_from_db()
    assert (run.status, run.error_message, run.results) == ("failed", "중단", {})
    assert not AuditEvent.objects.filter(action="evaluations.run_succeeded").exists()


def test_an_operator_runs_a_submission_again(
    operator: User,
    applicant: User,
    company: Organisation,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatched: list[int] = []
    monkeypatch.setattr(runs, "run_dispatch", dispatched.append)
    run = EvaluationRunFactory(
        status=models.EvaluationRun.Status.FAILED, submission__evaluation__company=company
    )
    submission = run.submission

    with django_capture_on_commit_callbacks(execute=True):
        again = run_start(actor=operator, submission=submission)
    with pytest.raises(DomainError) as busy:
        run_start(actor=operator, submission=submission)
    with pytest.raises(PermissionDeniedError):
        run_start(actor=applicant, submission=submission)

    assert (again.status, again.requested_by, dispatched) == ("queued", operator, [again.pk])
    assert (busy.value.code, busy.value.status_code) == ("run_already_active", 409)
    assert models.EvaluationRun.objects.filter(submission=submission).count() == 2


def test_a_closed_evaluation_is_not_run_again(operator: User, company: Organisation) -> None:
    run = EvaluationRunFactory(
        status=models.EvaluationRun.Status.SUCCEEDED, submission__evaluation__company=company
    )
    evaluation_close(actor=operator, evaluation=run.submission.evaluation)

    with pytest.raises(DomainError) as error:
        run_start(actor=operator, submission=run.submission)

    assert error.value.code == "evaluation_not_locked"
    assert models.EvaluationRun.objects.count() == 1


def test_silent_runs_are_failed_as_abandoned(company: Organisation, settings: Any) -> None:
    settings.MEDBROKER_EVALUATION_STALE_MINUTES = 120
    with time_machine.travel(kst(2025, 9, 15, 8, 0), tick=False):
        stale_queued = EvaluationRunFactory(submission__evaluation__company=company)
        stale_running = EvaluationRunFactory(submission__evaluation__company=company, status="running")
        finished = EvaluationRunFactory(submission__evaluation__company=company, status="succeeded")
    with time_machine.travel(kst(2025, 9, 15, 9, 30), tick=False):
        fresh = EvaluationRunFactory(submission__evaluation__company=company, status="running")

    with time_machine.travel(kst(2025, 9, 15, 10, 1), tick=False):
        failed = runs_abandon_stale()

    assert failed == 2
    statuses = dict(models.EvaluationRun.objects.values_list("pk", "status"))
    assert statuses == {
        stale_queued.pk: "failed",
        stale_running.pk: "failed",
        finished.pk: "succeeded",
        fresh.pk: "running",
    }
    stale_running.refresh_from_db()
    assert stale_running.finished_at == kst(2025, 9, 15, 10, 1)
    assert stale_running.error_message.startswith("실행이 응답 없이 멈추어 중단 처리했습니다")
    event = AuditEvent.objects.get(action="evaluations.run_abandoned", object_id=str(stale_running.pk))
    assert event.data == {
        "previous_status": "running",
        "last_sign_of_life": kst(2025, 9, 15, 8, 0).astimezone(dt.UTC).isoformat(),
    }


def test_runs_go_to_celery_or_to_a_thread(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    from medbroker.evaluations import tasks

    delayed: list[int] = []
    threads: list[Any] = []
    monkeypatch.setattr(tasks.evaluation_run_execute, "delay", delayed.append)

    class RecordingThread:
        def __init__(self, **kwargs: Any) -> None:
            threads.append(kwargs)

        def start(self) -> None:
            threads.append("started")

    monkeypatch.setattr(runs.threading, "Thread", RecordingThread)

    settings.MEDBROKER_EVALUATION_IN_THREAD = False
    run_dispatch(7)
    settings.MEDBROKER_EVALUATION_IN_THREAD = True
    run_dispatch(8)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    run_dispatch(9)

    assert delayed == [7, 9]
    assert threads == [
        {"target": runs._in_thread, "args": (8,), "name": "evaluation-run-8", "daemon": True},
        "started",
    ]


def _zip_masks(masks: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for case_id, mask in masks.items():
            array = io.BytesIO()
            np.save(array, mask)
            zipped.writestr(f"{case_id}.npy", array.getvalue())
    return buffer.getvalue()


def test_segmentation_predictions_are_read_from_their_zip(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    files = testdata.segmentation_test_set_files(4, seed=2)
    test_set = active_test_set(operator, files, task_type="segmentation")
    evaluation = _locked_evaluation(operator, company, test_set)
    arrays = testdata.archive_arrays(files[1])
    # Perfect masks for three cases, nothing for the fourth.
    masks = {f"S{index:04d}": arrays[f"masks/S{index:04d}.npy"] for index in range(1, 4)}

    run = _submit(django_capture_on_commit_callbacks, applicant, evaluation, "masks.zip", _zip_masks(masks))

    run.refresh_from_db()
    assert run.results["failures_by_reason"] == {"timeout": 0, "error": 0, "missing": 1}
    # S0001..S0003 perfect (dice 1), S0004 missing (dice 0).
    assert run.results["metrics"]["dice"]["value"] == 0.75


def test_the_comparison_is_never_with_a_later_run(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    files = testdata.classification_test_set_files(20, seed=2)
    test_set = active_test_set(operator, files)
    evaluation = _locked_evaluation(operator, company, test_set)
    truth = _truth(files)

    def scores(spread: float) -> bytes:
        return (
            "case_id,score\n"
            + "".join(f"{row['case_id']},{0.5 + spread * (int(row['label']) - 0.5)}\n" for row in truth)
        ).encode()

    first = _submit(
        django_capture_on_commit_callbacks, applicant, evaluation, "a.csv", scores(0.2), label="1차"
    )
    # The second is queued but runs only after a third has been submitted and run.
    with django_capture_on_commit_callbacks(execute=False):
        second_submission = submission_create(
            actor=applicant,
            evaluation=evaluation,
            kind="predictions",
            upload=SimpleUploadedFile("b.csv", scores(0.4)),
            label="2차",
        )
    third = _submit(
        django_capture_on_commit_callbacks, applicant, evaluation, "c.csv", scores(0.6), label="3차"
    )

    second = run_execute(run_id=models.EvaluationRun.objects.get(submission=second_submission).pk)

    third.refresh_from_db()
    assert (second.status, third.status) == ("succeeded", "succeeded")
    assert (second.results["comparison"]["run_id"], second.results["comparison"]["label"]) == (
        first.pk,
        "1차",
    )
    assert third.results["comparison"]["run_id"] == first.pk


def test_a_comparison_without_variance_is_stored(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    # The earlier submission ties every case; the later one separates the classes perfectly. z would be
    # infinite, which no JSON column accepts.
    files = testdata.classification_test_set_files(10, seed=5)
    test_set = active_test_set(operator, files)
    evaluation = _locked_evaluation(operator, company, test_set)
    truth = _truth(files)
    tied = "case_id,score\n" + "".join(f"{row['case_id']},0.5\n" for row in truth)
    perfect = "case_id,score\n" + "".join(f"{row['case_id']},{row['label']}\n" for row in truth)
    earlier = _submit(django_capture_on_commit_callbacks, applicant, evaluation, "a.csv", tied.encode())

    later = _submit(django_capture_on_commit_callbacks, applicant, evaluation, "b.csv", perfect.encode())

    later.refresh_from_db()
    assert later.status == "succeeded"
    assert later.results["comparison"] == {
        "run_id": earlier.pk,
        "label": "a.csv",
        "auc_a": 1.0,
        "auc_b": 0.5,
        "difference": 0.5,
        "ci": None,
        "z": None,
        "p_value": None,
        "method": "delong-paired",
    }
    assert later.results["metrics"]["auroc"] == {"value": 1.0, "ci": None, "method": "none"}


def test_a_changed_input_file_fails_the_run_and_names_the_case_to_operators_only(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    test_set = active_test_set(operator, testdata.classification_test_set_files(6, seed=1))
    evaluation = _locked_evaluation(operator, company, test_set)
    case = models.TestCase.objects.get(test_set=test_set, case_id="C0004")
    path = runs.test_set_folder(test_set) / case.input_file
    np.save(path, np.ones((32, 32), dtype=np.float32))

    run = _submit(
        django_capture_on_commit_callbacks,
        applicant,
        evaluation,
        "model.onnx",
        MODEL,
        testdata.CLASSIFIER_MANIFEST,
    )

    run.refresh_from_db()
    message = (
        "시험셋 파일이 확정 당시와 달라(무결성 검사 실패) 실행하지 않았습니다. 운영자에게 문의해 주세요."
    )
    detail = f"증례 C0004의 입력 파일({case.input_file})의 SHA-256이 시험셋에 기록된 값과 다릅니다."
    assert (run.status, run.error_message, run.results, run.outputs) == ("failed", message, {}, {})
    assert AuditEvent.objects.get(action="evaluations.run_failed").data == {
        "reason": message,
        "detail": detail,
    }
    assert Notification.objects.get(user=applicant, kind="evaluation_run_finished").body == message
    assert (
        Notification.objects.get(user=operator, kind="evaluation_run_finished").body == f"{message} {detail}"
    )


def test_a_changed_reference_mask_fails_the_run(
    operator: User, applicant: User, company: Organisation, django_capture_on_commit_callbacks: Any
) -> None:
    files = testdata.segmentation_test_set_files(3, seed=2)
    test_set = active_test_set(operator, files, task_type="segmentation")
    evaluation = _locked_evaluation(operator, company, test_set)
    arrays = testdata.archive_arrays(files[1])
    masks = {f"S{index:04d}": arrays[f"masks/S{index:04d}.npy"] for index in range(1, 4)}
    case = models.TestCase.objects.get(test_set=test_set, case_id="S0002")
    np.save(runs.test_set_folder(test_set) / case.reference["mask"], np.zeros((32, 32), dtype=np.uint8))

    run = _submit(django_capture_on_commit_callbacks, applicant, evaluation, "masks.zip", _zip_masks(masks))

    run.refresh_from_db()
    assert (run.status, run.results) == ("failed", {})
    assert run.error_message.startswith("시험셋 파일이 확정 당시와 달라(무결성 검사 실패)")
    assert AuditEvent.objects.get(action="evaluations.run_failed").data["detail"] == (
        f"시험셋의 내용 해시(증례·참조 표준·마스크 파일)가 확정 당시 값 {test_set.content_sha256}과 다릅니다."
    )


def test_abandoned_runs_are_reported_to_the_company_and_the_operators(
    operator: User, applicant: User, company: Organisation, settings: Any
) -> None:
    settings.MEDBROKER_EVALUATION_STALE_MINUTES = 30
    with time_machine.travel(kst(2025, 9, 15, 8, 0), tick=False):
        stale = EvaluationRunFactory(submission__evaluation__company=company, status="running")

    with time_machine.travel(kst(2025, 9, 15, 9, 0), tick=False):
        assert runs_abandon_stale() == 1

    number = stale.submission.evaluation.number
    for user in (operator, applicant):
        notice = Notification.objects.get(user=user, kind="evaluation_run_finished")
        assert (notice.title, notice.link) == (
            f"성능시험 실행 중단: {number}",
            f"/evaluations/runs/{stale.pk}/",
        )
        assert notice.body.startswith("실행이 응답 없이 멈추어 중단 처리했습니다")


class _Slot:
    """A stand-in for the thread slot: busy for ``busy`` waits, then free."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls: list[str] = []

    def acquire(self, timeout: float) -> bool:
        self.calls.append(f"acquire {timeout:g}")
        if self.busy:
            self.busy -= 1
            return False
        return True

    def release(self) -> None:
        self.calls.append("release")


def test_runs_in_threads_take_turns_and_stay_queued_while_they_wait(
    company: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    with time_machine.travel(kst(2025, 9, 15, 8, 0), tick=False):
        run = EvaluationRunFactory(submission__evaluation__company=company)
    slot = _Slot(busy=2)
    executed: list[int] = []
    monkeypatch.setattr(runs, "_THREAD_SLOT", slot)
    monkeypatch.setattr(runs, "run_execute", lambda *, run_id: executed.append(run_id))
    # The test's own connection stays open: the thread's closing is not what is tested here.
    monkeypatch.setattr(runs, "connection", types.SimpleNamespace(close=lambda: None))

    with time_machine.travel(kst(2025, 9, 15, 9, 0), tick=False):
        runs._in_thread(run.pk)

    run.refresh_from_db()
    assert slot.calls == ["acquire 60", "acquire 60", "acquire 60", "release"]
    assert executed == [run.pk]
    # Its waits kept it from looking abandoned.
    assert (run.status, run.updated_at) == ("queued", kst(2025, 9, 15, 9, 0))


def test_a_run_failed_while_it_waited_for_its_turn_is_not_run(
    company: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = EvaluationRunFactory(submission__evaluation__company=company, status="failed")
    slot = _Slot(busy=5)
    executed: list[int] = []
    monkeypatch.setattr(runs, "_THREAD_SLOT", slot)
    monkeypatch.setattr(runs, "run_execute", lambda *, run_id: executed.append(run_id))
    monkeypatch.setattr(runs, "connection", types.SimpleNamespace(close=lambda: None))

    runs._in_thread(run.pk)

    assert (slot.calls, executed) == (["acquire 60"], [])


def test_one_run_at_a_time_per_process_in_threads() -> None:
    assert runs._THREAD_SLOT.acquire(blocking=False) is True
    try:
        assert runs._THREAD_SLOT.acquire(blocking=False) is False
    finally:
        runs._THREAD_SLOT.release()
