"""Factories of the evaluations app: test sets and cases, evaluations with an accepted performance-test
request of an agreement in force, submissions and runs."""

from __future__ import annotations

import hashlib
from typing import Any

import factory

from medbroker.accounts.models import Organisation, Role, User
from medbroker.accounts.tests.factories import OrganisationFactory, UserFactory
from medbroker.agreements.models import Agreement, PerformanceTestRequest
from medbroker.agreements.tests.factories import active_agreement, lab_operator, selected_decision
from medbroker.core.timeutils import kst
from medbroker.evaluations.models import (
    DataKind,
    Evaluation,
    EvaluationRun,
    Submission,
    TaskType,
    TestCase,
    TestSet,
)
from medbroker.evaluations.plans import plan_default, plan_sha256

LOCKED_AT = kst(2025, 9, 15, 10, 0)


def accepted_test_request(
    company: Organisation, *, algorithm_name: str = "ChestNoduleNet"
) -> PerformanceTestRequest:
    """An accepted performance-test request of the company's agreement in force (made if it has none)."""
    operator = lab_operator()
    agreement = Agreement.objects.filter(company=company, status=Agreement.Status.ACTIVE).first()
    if agreement is None:
        agreement = active_agreement(decision=selected_decision(company=company, operator=operator))
    requester = User.objects.filter(organisation=company).first() or UserFactory(
        organisation=company, roles=[Role.APPLICANT]
    )
    return PerformanceTestRequest.objects.create(
        agreement=agreement,
        requested_by=requester,
        algorithm_name=algorithm_name,
        algorithm_version="1.0.0",
        task_description="흉부 X선 영상에서 결절 유무를 분류",
        status=PerformanceTestRequest.Status.ACCEPTED,
        decided_by=operator,
        decided_at=kst(2025, 9, 10, 10, 0),
    )


class TestSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TestSet

    __test__ = False  # pytest: a factory, not a test class

    name = factory.Sequence(lambda n: f"흉부 X선 결절 시험셋 {n}")
    version = "1.0"
    task_type = TaskType.BINARY
    data_kind = DataKind.IMAGING
    classes = factory.LazyAttribute(
        lambda o: {
            TaskType.BINARY: ["음성", "양성"],
            TaskType.MULTICLASS: ["정상", "양성 결절", "악성 결절"],
        }.get(o.task_type, ["결절"])
    )
    status = TestSet.Status.DRAFT
    created_by = factory.LazyFunction(lab_operator)


class TestCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TestCase

    __test__ = False

    test_set = factory.SubFactory(TestSetFactory)
    case_id = factory.Sequence(lambda n: f"C{n + 1:04d}")
    reference = factory.LazyAttribute(lambda o: {"label": 0})
    attributes = factory.LazyFunction(dict)


class EvaluationFactory(factory.django.DjangoModelFactory):
    """A draft evaluation of ``company`` on an active test set; ``locked=True`` for one with its plan fixed."""

    class Meta:
        model = Evaluation

    class Params:
        locked = factory.Trait(
            status=Evaluation.Status.LOCKED,
            plan_sha256=factory.LazyAttribute(lambda o: plan_sha256(o.plan)),
            plan_locked_at=LOCKED_AT,
            plan_locked_by=factory.LazyFunction(lab_operator),
        )

    number = factory.Sequence(lambda n: f"EV-2025-{n + 1:04d}")
    company = factory.SubFactory(OrganisationFactory)
    test_request = factory.LazyAttribute(lambda o: accepted_test_request(o.company))
    test_set = factory.SubFactory(TestSetFactory, status=TestSet.Status.ACTIVE, content_sha256="a" * 64)
    plan = factory.LazyAttribute(lambda o: plan_default(o.test_set.task_type))
    created_by = factory.LazyFunction(lab_operator)


def _member(company: Organisation) -> User:
    member = User.objects.filter(organisation=company, role_assignments__role=Role.APPLICANT).first()
    return member or UserFactory(organisation=company, roles=[Role.APPLICANT])


class SubmissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submission

    evaluation = factory.SubFactory(EvaluationFactory, locked=True)
    kind = Submission.Kind.PREDICTIONS
    label = factory.Sequence(lambda n: f"제출 {n + 1}")
    file = factory.LazyAttribute(lambda o: f"submissions/{o.evaluation.pk}/{o.file_sha256[:32]}.csv")
    file_name = "predictions.csv"
    file_size = 100
    file_sha256 = factory.Sequence(lambda n: hashlib.sha256(f"submission-{n}".encode()).hexdigest())
    manifest = factory.LazyFunction(dict)
    submitted_by = factory.LazyAttribute(lambda o: _member(o.evaluation.company))


class EvaluationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationRun

    submission = factory.SubFactory(SubmissionFactory)
    status = EvaluationRun.Status.QUEUED
    requested_by = factory.LazyAttribute(lambda o: o.submission.submitted_by)


def binary_cases(test_set: TestSet, labels: list[int], **attributes: Any) -> list[TestCase]:
    """Cases C0001… of ``test_set`` with ``labels``; ``attributes`` lists per attribute one value per case."""
    return [
        TestCaseFactory(
            test_set=test_set,
            case_id=f"C{index + 1:04d}",
            reference={"label": label},
            attributes={name: values[index] for name, values in attributes.items()},
        )
        for index, label in enumerate(labels)
    ]
