"""Submissions: a company member hands in a model or a predictions file while the plan is locked, within the
quota; the file is checked (never loaded), stored with its hash, and a run is queued after commit."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import Organisation, User
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.core.timeutils import kst
from medbroker.evaluations import models, testdata
from medbroker.evaluations.services import runs, submissions
from medbroker.evaluations.services.submissions import submission_create
from medbroker.evaluations.tests.conftest import active_test_set
from medbroker.evaluations.tests.factories import EvaluationFactory, TestCaseFactory, TestSetFactory

pytestmark = pytest.mark.django_db

MODEL = testdata.tiny_classifier_model_bytes()


@pytest.fixture
def evaluation(company: Organisation, binary_test_set: models.TestSet) -> models.Evaluation:
    return EvaluationFactory(company=company, test_set=binary_test_set, locked=True)


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def _submit(
    actor: User,
    evaluation: models.Evaluation,
    name: str = "model.onnx",
    content: bytes = MODEL,
    **options: Any,
) -> models.Submission:
    kind = options.pop("kind", "model" if name.endswith(".onnx") else "predictions")
    manifest = options.pop("manifest", testdata.CLASSIFIER_MANIFEST if kind == "model" else None)
    return submission_create(
        actor=actor,
        evaluation=evaluation,
        kind=kind,
        upload=_upload(name, content),
        manifest=manifest,
        **options,
    )


def _stored_files() -> list[Path]:
    folder = Path(django_settings.MEDBROKER_EVALUATION_ROOT) / "submissions"
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def _nothing_submitted() -> None:
    assert models.Submission.objects.count() == 0
    assert models.EvaluationRun.objects.count() == 0
    assert _stored_files() == []
    assert not AuditEvent.objects.filter(action="evaluations.submission_created").exists()


def _scores_csv(test_set: models.TestSet, skip: int = 0) -> bytes:
    case_ids = list(models.TestCase.objects.filter(test_set=test_set).values_list("case_id", flat=True))
    rows = [f"{case_id},{index / len(case_ids):.3f}" for index, case_id in enumerate(case_ids[skip:])]
    return ("case_id,score\n" + "\n".join(rows) + "\n").encode()


def test_a_member_submits_a_model(
    applicant: User,
    evaluation: models.Evaluation,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    dispatched: list[int] = []
    monkeypatch.setattr(runs, "run_dispatch", dispatched.append)

    with django_capture_on_commit_callbacks(execute=True):
        submission = _submit(applicant, evaluation, label="  v1.0  기준 모델 ")

    assert (
        submission.kind,
        submission.label,
        submission.file_name,
        submission.file_size,
        submission.submitted_by,
    ) == (
        "model",
        "v1.0 기준 모델",
        "model.onnx",
        len(MODEL),
        applicant,
    )
    assert submission.file_sha256 == hashlib.sha256(MODEL).hexdigest()
    assert submission.file.startswith(f"submissions/{evaluation.pk}/") and submission.file.endswith(".onnx")
    assert (Path(django_settings.MEDBROKER_EVALUATION_ROOT) / submission.file).read_bytes() == MODEL
    assert submission.manifest["output"] == {"type": "probability", "positive_index": 1, "threshold": 0.5}
    run = models.EvaluationRun.objects.get()
    assert (run.submission, run.status, run.requested_by) == (submission, "queued", applicant)
    assert dispatched == [run.pk]
    event = AuditEvent.objects.get(action="evaluations.submission_created")
    assert (event.actor, event.data["file_sha256"], event.data["kind"]) == (
        applicant,
        submission.file_sha256,
        "model",
    )


def test_a_member_submits_predictions_with_cases_left_out(
    applicant: User, evaluation: models.Evaluation
) -> None:
    submission = _submit(applicant, evaluation, "scores.csv", _scores_csv(evaluation.test_set, skip=3))

    assert (submission.kind, submission.manifest, submission.file.endswith(".csv")) == (
        "predictions",
        {},
        True,
    )
    assert AuditEvent.objects.get(action="evaluations.submission_created").data["predicted_cases"] == 37


@pytest.mark.parametrize("who", ["operator", "other_applicant", "auditor"])
def test_only_members_of_the_company_submit(
    who: str, request: pytest.FixtureRequest, evaluation: models.Evaluation
) -> None:
    with pytest.raises(PermissionDeniedError):
        _submit(request.getfixturevalue(who), evaluation)

    _nothing_submitted()


@pytest.mark.parametrize("status", [models.Evaluation.Status.DRAFT, models.Evaluation.Status.CLOSED])
def test_submissions_need_a_locked_plan(applicant: User, evaluation: models.Evaluation, status: str) -> None:
    models.Evaluation.objects.filter(pk=evaluation.pk).update(status=status)
    evaluation.refresh_from_db()

    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation)

    assert (error.value.code, error.value.status_code) == ("evaluation_not_locked", 409)
    _nothing_submitted()


@pytest.mark.parametrize(
    ("name", "content", "options", "field", "message"),
    [
        ("model.pt", MODEL, {"kind": "model"}, "file", "이 제출에는 .onnx 파일을 올려 주세요."),
        ("model.onnx", b"PK\x03\x04 a zip, not a model", {}, "file", "ONNX 모델 파일이 아닙니다."),
        ("model.onnx", b"\x08", {}, "file", "ONNX 모델 파일이 아닙니다."),
        (
            "model.onnx",
            MODEL,
            {"manifest": {"input": {"shape": [1, 1, 32, 32]}}},
            "manifest",
            "output 항목이 없습니다",
        ),
        ("scores.xlsx", b"x", {"kind": "predictions"}, "file", "이 제출에는 .csv 파일을 올려 주세요."),
        (
            "scores.csv",
            b"case_id,score\nC0001,0.5\nC9999,0.5\n",
            {},
            "file",
            "scores.csv 3번째 줄(데이터 2행): 시험셋에 없는 case_id입니다: 'C9999'",
        ),
        (
            "scores.csv",
            b"case_id,score\nC0001,0.5\nC0001,0.7\n",
            {},
            "file",
            "case_id 'C0001'가 중복됩니다(2번째 줄에 이미 있음)",
        ),
        (
            "scores.csv",
            b"case_id,score\nC0001,high\n",
            {},
            "file",
            "scores.csv 2번째 줄(데이터 1행): score 값이 숫자가 아닙니다: 'high'",
        ),
        (
            "scores.csv",
            b"case_id,score\nC0001,1.5\n",
            {},
            "file",
            "score 값은 0과 1 사이의 확률이어야 합니다: 1.5",
        ),
        ("scores.csv", b"case_id,probability\nC0001,0.5\n", {}, "file", "필요한 열이 없습니다: score"),
    ],
)
def test_files_that_are_refused(
    applicant: User,
    evaluation: models.Evaluation,
    name: str,
    content: bytes,
    options: dict[str, Any],
    field: str,
    message: str,
) -> None:
    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation, name, content, **options)

    assert error.value.field == field
    assert message in str(error.value)
    _nothing_submitted()


def test_a_file_over_the_limit_is_refused(
    applicant: User, evaluation: models.Evaluation, settings: Any
) -> None:
    settings.MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES = len(MODEL) - 1

    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation)

    assert str(error.value) == "파일이 너무 큽니다 (0 MB까지)."
    _nothing_submitted()


def test_a_model_needs_inputs_for_every_case(applicant: User, company: Organisation) -> None:
    test_set = TestSetFactory(status=models.TestSet.Status.ACTIVE)
    TestCaseFactory(test_set=test_set, reference={"label": 1}, input_file="")
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)

    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation)

    assert (error.value.code, error.value.status_code) == ("test_set_without_inputs", 409)
    _nothing_submitted()


def test_the_quota_is_the_companys_over_a_sliding_window(
    applicant: User, evaluation: models.Evaluation, company: Organisation, settings: Any
) -> None:
    settings.MEDBROKER_EVALUATION_QUOTA = 2
    settings.MEDBROKER_EVALUATION_QUOTA_DAYS = 30
    other = EvaluationFactory(company=company, test_set=evaluation.test_set, locked=True)
    with time_machine.travel(kst(2025, 9, 1, 10, 0), tick=False):
        _submit(applicant, evaluation)
    with time_machine.travel(kst(2025, 9, 10, 10, 0), tick=False):
        _submit(applicant, other)

    with time_machine.travel(kst(2025, 10, 1, 9, 59), tick=False), pytest.raises(DomainError) as error:
        _submit(applicant, evaluation)
    with time_machine.travel(kst(2025, 10, 1, 10, 1), tick=False):
        allowed = _submit(applicant, evaluation)

    assert (error.value.code, error.value.status_code) == ("submission_quota", 409)
    assert str(error.value) == (
        "제출 한도(30일에 2회)를 모두 썼습니다. 다음 제출은 2025-10-01 10:00 이후에 할 수 있습니다."
    )
    assert models.Submission.objects.count() == 3
    assert len(_stored_files()) == 3
    assert allowed.evaluation == evaluation


def test_multiclass_predictions_name_every_class(
    applicant: User, company: Organisation, operator: User
) -> None:
    test_set = active_test_set(operator, testdata.multiclass_test_set_files(6), task_type="multiclass")
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    good = "case_id,정상,양성 결절,악성 결절\nM0001,0.7,0.2,0.1\nM0002,0.1,0.8,0.1\n".encode()
    missing_class = "case_id,정상,양성 결절\nM0001,0.7,0.3\n".encode()

    _submit(applicant, evaluation, "probabilities.csv", good)
    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation, "probabilities.csv", missing_class)

    assert "필요한 열이 없습니다: 악성 결절" in str(error.value)
    assert models.Submission.objects.count() == 1


def test_detection_predictions_list_boxes(applicant: User, company: Organisation, operator: User) -> None:
    test_set = active_test_set(operator, testdata.detection_test_set_files(6), task_type="detection")
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    good = b"case_id,x,y,w,h,score\nD0001,1,2,5,5,0.9\nD0001,10,10,5,5,0.3\nD0002,,,,,\n"
    negative = b"case_id,x,y,w,h,score\nD0001,1,2,-5,5,0.9\n"

    _submit(applicant, evaluation, "boxes.csv", good)
    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation, "boxes.csv", negative)

    assert (
        str(error.value) == "boxes.csv 2번째 줄(데이터 1행): 상자의 너비(w)와 높이(h)는 0 이상이어야 합니다"
    )


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, mask=array)
    return buffer.getvalue()


def _masks_zip(members: dict[str, np.ndarray | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, value in members.items():
            if isinstance(value, bytes):
                zipped.writestr(name, value)
                continue
            array = io.BytesIO()
            np.save(array, value)
            zipped.writestr(name, array.getvalue())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (
            {"S0001.npy": np.zeros((16, 16), dtype=np.uint8)},
            "S0001.npy의 크기 [16, 16]이(가) 참조 마스크 크기 [32, 32]와 다릅니다.",
        ),
        ({"S0099.npy": np.zeros((32, 32), dtype=np.uint8)}, "시험셋에 없는 case_id입니다: S0099.npy"),
        (
            {"masks/S0001.npy": np.zeros((32, 32), dtype=np.uint8)},
            "ZIP에는 '<case_id>.npy' 파일만 있어야 합니다: masks/S0001.npy",
        ),
        ({"S0001.npy": np.full((32, 32), 3, dtype=np.uint8)}, "S0001.npy의 값은 0부터 1까지여야 합니다."),
        (
            {"S0001.npy": np.zeros((32, 32), dtype=np.float32)},
            "S0001.npy은(는) 정수 레이블 배열이어야 합니다.",
        ),
        ({"S0001.npy": b"garbage"}, ".npy 배열로 읽을 수 없습니다: S0001.npy"),
        # An .npz named .npy: a ZIP inside the ZIP, never opened as one.
        ({"S0001.npy": _npz(np.zeros((32, 32), dtype=np.uint8))}, ".npy 배열로 읽을 수 없습니다: S0001.npy"),
        (
            {"S0001.npy": np.zeros((32, 32), dtype=np.int64)},
            "S0001.npy은(는) 정수 레이블 배열이어야 합니다. uint8(구조가 255개를 넘으면 uint16)로 저장해 "
            "주세요 (지금: int64).",
        ),
        (
            {"S0001.npy": _npy_bytes(np.zeros((32, 32), dtype=np.uint8)) + b"more"},
            "S0001.npy의 크기가 .npy 머리글과 맞지 않습니다.",
        ),
        (
            {"S0001.npy": _npy_bytes(np.zeros((32, 32), dtype=np.uint8))[:-1]},
            "S0001.npy의 크기가 .npy 머리글과 맞지 않습니다.",
        ),
    ],
)
def test_segmentation_predictions_are_checked_against_the_reference_masks(
    applicant: User, company: Organisation, operator: User, members: dict[str, Any], message: str
) -> None:
    test_set = active_test_set(operator, testdata.segmentation_test_set_files(4), task_type="segmentation")
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    _submit(applicant, evaluation, "masks.zip", _masks_zip({"S0002.npy": np.ones((32, 32), dtype=np.uint8)}))

    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation, "masks.zip", _masks_zip(members))

    assert message in str(error.value)
    assert models.Submission.objects.count() == 1
    assert len(_stored_files()) == 1


@pytest.fixture
def segmentation_evaluation(company: Organisation, operator: User) -> models.Evaluation:
    test_set = active_test_set(operator, testdata.segmentation_test_set_files(4), task_type="segmentation")
    return EvaluationFactory(company=company, test_set=test_set, locked=True)


def test_a_masks_zip_may_not_declare_more_members_than_cases(
    applicant: User, segmentation_evaluation: models.Evaluation, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _masks_zip({f"S{index:04d}.npy": np.zeros((32, 32), dtype=np.uint8) for index in range(1, 6)})

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the ZIP's directory was read")

    monkeypatch.setattr(submissions.zipfile, "ZipFile", never)

    with pytest.raises(DomainError) as error:
        _submit(applicant, segmentation_evaluation, "masks.zip", content)

    assert str(error.value) == "masks.zip: ZIP에 파일이 너무 많습니다 (시험셋의 증례 수 4개까지)."
    _nothing_submitted()


def test_masks_are_checked_at_upload_and_read_small_by_the_run(
    applicant: User, segmentation_evaluation: models.Evaluation
) -> None:
    masks = {
        "S0001": np.ones((32, 32), dtype=np.int16),
        "S0002": np.zeros((32, 32), dtype=np.bool_),
        "S0003": np.asfortranarray(np.eye(32, dtype=np.uint16)),
    }

    submission = _submit(
        applicant,
        segmentation_evaluation,
        "masks.zip",
        _masks_zip({f"{case_id}.npy": mask for case_id, mask in masks.items()}),
    )
    path = submissions.submission_path(submission)
    test_set = segmentation_evaluation.test_set

    assert AuditEvent.objects.get(action="evaluations.submission_created").data["predicted_cases"] == 3
    assert submissions.predictions_check(path, test_set=test_set) == 3
    read = submissions.predictions_read(path, test_set=test_set)
    assert sorted(read) == ["S0001", "S0002", "S0003"]
    for case_id, mask in masks.items():
        assert read[case_id].dtype == np.uint8
        np.testing.assert_array_equal(read[case_id], mask.astype(np.uint8))


def test_an_upload_cut_short_is_not_stored(applicant: User, evaluation: models.Evaluation) -> None:
    # What an upload handler that stops keeping data at its limit hands over: the true size, less data.
    upload = _upload("model.onnx", MODEL)
    upload.size = len(MODEL) + 4096

    with pytest.raises(DomainError) as error:
        submission_create(
            actor=applicant,
            evaluation=evaluation,
            kind="model",
            upload=upload,
            manifest=testdata.CLASSIFIER_MANIFEST,
        )

    assert error.value.field == "file"
    assert str(error.value) == (
        f"파일을 끝까지 받지 못했습니다 ({len(MODEL)} / {len(MODEL) + 4096} 바이트). 다시 올려 주세요."
    )
    _nothing_submitted()


class _UnreadableUpload(SimpleUploadedFile):
    def read(self, *args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("the upload was read")

    def chunks(self, chunk_size: int | None = None) -> Any:
        raise AssertionError("the upload was read")


def test_the_quota_is_checked_before_the_upload_is_read(
    applicant: User, evaluation: models.Evaluation, settings: Any
) -> None:
    settings.MEDBROKER_EVALUATION_QUOTA = 1
    _submit(applicant, evaluation)

    with pytest.raises(DomainError) as error:
        submission_create(
            actor=applicant,
            evaluation=evaluation,
            kind="model",
            upload=_UnreadableUpload("model.onnx", MODEL),
            manifest=testdata.CLASSIFIER_MANIFEST,
        )

    assert (error.value.code, error.value.status_code) == ("submission_quota", 409)
    assert models.Submission.objects.count() == 1
    assert len(_stored_files()) == 1


def test_a_scores_file_longer_than_the_test_set_is_not_read_to_its_end(
    applicant: User, evaluation: models.Evaluation
) -> None:
    rows = _scores_csv(evaluation.test_set)
    # One row past the 40 cases, then (beyond the text layer's read-ahead) bytes that are not UTF-8:
    # reading them would be another error.
    content = rows + b"C0001,0.5\n" * 8000 + b"\xff\xfe,0.5\n" * 1000

    with pytest.raises(DomainError) as error:
        _submit(applicant, evaluation, "scores.csv", content)

    assert str(error.value) == "scores.csv 42번째 줄(데이터 41행): 데이터 행이 너무 많습니다(40행까지)"
    _nothing_submitted()


def test_detection_boxes_are_capped_per_case_and_in_all(
    applicant: User, company: Organisation, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submissions, "MAX_BOXES", 2)
    test_set = active_test_set(operator, testdata.detection_test_set_files(3), task_type="detection")
    evaluation = EvaluationFactory(company=company, test_set=test_set, locked=True)
    header = "case_id,x,y,w,h,score\n"
    three_boxes = header + "D0001,1,1,5,5,0.9\nD0002,1,1,5,5,0.9\nD0001,2,2,5,5,0.8\nD0001,3,3,5,5,0.7\n"
    seven_rows = header + "".join(f"D000{index % 3 + 1},,,,,\n" for index in range(7))

    with pytest.raises(DomainError) as per_case:
        _submit(applicant, evaluation, "boxes.csv", three_boxes.encode())
    with pytest.raises(DomainError) as in_all:
        _submit(applicant, evaluation, "boxes.csv", seven_rows.encode())

    assert str(per_case.value) == "boxes.csv 5번째 줄(데이터 4행): 증례 하나의 상자는 2개까지입니다: 'D0001'"
    assert str(in_all.value) == "boxes.csv 8번째 줄(데이터 7행): 데이터 행이 너무 많습니다(6행까지)"
    _nothing_submitted()
