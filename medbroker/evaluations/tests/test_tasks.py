"""The Celery tasks: a queued run is run once whatever retries do; the reconciler fails abandoned runs."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from config.celery import app
from medbroker.accounts.models import Organisation, User
from medbroker.audit.models import AuditEvent
from medbroker.core.timeutils import kst
from medbroker.evaluations import models, testdata
from medbroker.evaluations.services.submissions import submission_create
from medbroker.evaluations.tasks import evaluation_run_execute, evaluation_runs_reconcile
from medbroker.evaluations.tests.conftest import active_test_set
from medbroker.evaluations.tests.factories import EvaluationFactory, EvaluationRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_run(operator: User, applicant: User, company: Organisation) -> models.EvaluationRun:
    """A predictions run, queued and not yet dispatched (the test's transaction never commits)."""
    test_set = active_test_set(operator, testdata.classification_test_set_files(8, seed=4))
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    scores = "".join(f"C{index:04d},{index / 10}\n" for index in range(1, 9))
    submission = submission_create(
        actor=applicant,
        evaluation=evaluation,
        kind="predictions",
        upload=SimpleUploadedFile("scores.csv", f"case_id,score\n{scores}".encode()),
    )
    return models.EvaluationRun.objects.get(submission=submission)


def test_the_task_runs_a_queued_run_once(queued_run: models.EvaluationRun) -> None:
    first = evaluation_run_execute.delay(queued_run.pk).get()
    queued_run.refresh_from_db()
    finished_at, events = queued_run.finished_at, AuditEvent.objects.count()
    second = evaluation_run_execute.delay(queued_run.pk).get()

    queued_run.refresh_from_db()
    assert (first, second) == ("succeeded", "succeeded")
    assert (queued_run.status, queued_run.finished_at, queued_run.results["n"]) == (
        "succeeded",
        finished_at,
        8,
    )
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_run_another_worker_took_is_left_alone(company: Organisation, status: str) -> None:
    run = EvaluationRunFactory(status=status, submission__evaluation__company=company)

    assert evaluation_run_execute(run.pk) == status

    run.refresh_from_db()
    assert (run.status, run.started_at, run.finished_at) == (status, None, None)


def test_the_reconciler_fails_abandoned_runs(company: Organisation, settings: Any) -> None:
    settings.MEDBROKER_EVALUATION_STALE_MINUTES = 30
    with time_machine.travel(kst(2025, 9, 15, 9, 0), tick=False):
        stale = EvaluationRunFactory(status="running", submission__evaluation__company=company)

    with time_machine.travel(kst(2025, 9, 15, 9, 29), tick=False):
        assert evaluation_runs_reconcile.delay().get() == 0
    with time_machine.travel(kst(2025, 9, 15, 9, 31), tick=False):
        assert evaluation_runs_reconcile.delay().get() == 1

    stale.refresh_from_db()
    assert stale.status == "failed"


def test_the_tasks_are_registered_and_the_reconciler_scheduled() -> None:
    assert {
        "medbroker.evaluations.tasks.evaluation_run_execute",
        "medbroker.evaluations.tasks.evaluation_runs_reconcile",
    } <= set(app.tasks)
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "medbroker.evaluations.tasks.evaluation_runs_reconcile" in scheduled
