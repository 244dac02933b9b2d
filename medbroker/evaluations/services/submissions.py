"""Submissions: what a company hands in for its performance test, checked and stored, and a run queued.

A submission is an ONNX model with its manifest, or a predictions file made in the closed learning room:

- binary: CSV ``case_id,score`` (the positive class's probability, 0 to 1);
- multi-class: CSV ``case_id`` and one column per class name (each class's probability);
- detection: CSV ``case_id,x,y,w,h,score``, one row per box, at most 1,000 boxes a case (what the sandbox
  keeps of a model's); a row with only ``case_id`` says "no detection in this image";
- segmentation: a ZIP of ``<case_id>.npy`` label maps of the reference masks' shape, of at most 2 bytes a
  voxel (uint8; bool, int8, int16 and uint16 are read too), so that a ZIP decompresses to no more than
  twice the test set's voxels.

A CSV has at most a row per case (detection: per box), and is read row by row, stopping at the first
wrong one. Cases the predictions leave out are allowed and count as failed ("missing"). A model is never
opened here: parsing an untrusted model is the sandbox's job, so the web process only checks that the file
looks like one. Files go to ``submissions/<evaluation pk>/<uuid>.<ext>`` with their SHA-256 and are never served.

Only members of the evaluation's company submit (an operator re-runs, but does not submit for a company),
only while the plan is locked, and at most MEDBROKER_EVALUATION_QUOTA times per company in
MEDBROKER_EVALUATION_QUOTA_DAYS days, counted under a lock so that two submissions at once cannot exceed it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from medbroker.accounts.models import Organisation, Role, User
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.evaluations.metrics.files import (
    CsvRow,
    CsvTable,
    InputFileError,
    case_id_read,
    csv_rows_open,
    finite_number,
)
from medbroker.evaluations.models import Evaluation, Submission, TaskType, TestCase, TestSet
from medbroker.evaluations.sandbox.manifest import MAX_BOXES, manifest_validate
from medbroker.evaluations.services.test_sets import (
    ZIP_MEMBER_ERRORS,
    evaluation_root,
    member_name_safe,
    npy_array_load,
    test_set_folder,
    zip_directory_fits,
)

SUBMISSIONS_FOLDER = "submissions"
COPY_CHUNK = 1024 * 1024
# The first byte of an ONNX ModelProto as serialisers write it: the key of field 1..8 (ir_version,
# producer_name, producer_version, domain, model_version, doc_string, graph, opset_import).
ONNX_FIRST_KEYS = frozenset({0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42})
ONNX_MIN_BYTES = 16
# A predicted label map: bool or an integer of at most 2 bytes a voxel (uint8 holds 255 structures).
MASK_MAX_ITEMSIZE = 2
# A .npy header (numpy writes 128 bytes for an ordinary array; it refuses to read more than 10,000).
NPY_HEADER_MAX_BYTES = 4096


def submission_path(submission: Submission) -> Path:
    return evaluation_root() / submission.file


def _upload_error(message: str) -> DomainError:
    return DomainError("submission_file_invalid", message, field="file")


# ---------------------------------------------------------------------------------------------------------
# Predictions files: checked at upload (nothing kept), read again by the run
# ---------------------------------------------------------------------------------------------------------


def _probability(table: CsvTable, row: CsvRow, column: str) -> float:
    value = finite_number(table, row, column)
    if not 0 <= value <= 1:
        raise table.error(
            row,
            _("%(column)s 값은 0과 1 사이의 확률이어야 합니다: %(value)s")
            % {
                "column": column,
                "value": row.get(column),
            },
        )
    return value


def _known(table: CsvTable, row: CsvRow, case_id: str, case_ids: set[str]) -> str:
    if case_id not in case_ids:
        raise table.error(row, _("시험셋에 없는 case_id입니다: '%(case_id)s'") % {"case_id": case_id})
    return case_id


def _classification_read(path: Path, name: str, test_set: TestSet, case_ids: set[str]) -> dict[str, Any]:
    # One row per case at most: a longer file is refused at the first row past that, unread beyond it.
    limit = len(case_ids)
    outputs: dict[str, Any] = {}
    seen: dict[str, CsvRow] = {}
    if test_set.task_type == TaskType.BINARY:
        with csv_rows_open(path, required=("case_id", "score"), name=name, max_rows=limit) as (table, rows):
            for row in rows:
                case_id = _known(table, row, case_id_read(table, row, seen), case_ids)
                outputs[case_id] = _probability(table, row, "score")
        return outputs
    classes = list(test_set.classes)
    with csv_rows_open(path, required=("case_id", *classes), name=name, max_rows=limit) as (table, rows):
        for row in rows:
            case_id = _known(table, row, case_id_read(table, row, seen), case_ids)
            outputs[case_id] = [_probability(table, row, column) for column in classes]
    return outputs


def _detection_read(path: Path, name: str, case_ids: set[str], *, keep: bool) -> dict[str, Any]:
    """Boxes by case; without ``keep`` only how many each case has (the upload's check keeps nothing)."""
    columns = ("case_id", "x", "y", "w", "h", "score")
    # A detector lists boxes; an image it lists nothing for has no detections (not a missing output), as in
    # ``medbroker metrics detection``. A file with only the header is a detector that found nothing.
    boxes_by_case: dict[str, list[list[float]]] = {case_id: [] for case_id in case_ids}
    counts: Counter[str] = Counter()
    with csv_rows_open(
        path, required=columns, name=name, allow_empty=True, max_rows=len(case_ids) * MAX_BOXES
    ) as (table, rows):
        for row in rows:
            case_id = row.get("case_id")
            if not case_id:
                raise table.error(row, _("case_id가 비어 있습니다"))
            _known(table, row, case_id, case_ids)
            if not any(row.get(column) for column in columns[1:]):
                continue
            box = [finite_number(table, row, column) for column in columns[1:]]
            if box[2] < 0 or box[3] < 0:
                raise table.error(row, _("상자의 너비(w)와 높이(h)는 0 이상이어야 합니다"))
            counts[case_id] += 1
            if counts[case_id] > MAX_BOXES:
                raise table.error(
                    row,
                    _("증례 하나의 상자는 %(count)d개까지입니다: '%(case_id)s'")
                    % {"count": MAX_BOXES, "case_id": case_id},
                )
            if keep:
                boxes_by_case[case_id].append(box)
    return boxes_by_case


def _member_error(name: str, member: str, message: str, **values: Any) -> DomainError:
    return _upload_error(message % {"name": name, "member": member, **values})


def _npy_member_read(handle: IO[bytes], name: str, member: str, shape: tuple[int, ...]) -> np.ndarray:
    """One label map from a ZIP member, read from its .npy header on: the header must describe an integer
    array of at most 2 bytes a voxel in the reference's shape, and then exactly its bytes are read. So a
    member never decompresses to more than the reference's voxels at 2 bytes each plus a header (nor is it
    ever unpickled, nor taken for an ``.npz``)."""
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            found, fortran_order, dtype = np.lib.format.read_array_header_1_0(
                handle, max_header_size=NPY_HEADER_MAX_BYTES
            )
        elif version == (2, 0):
            found, fortran_order, dtype = np.lib.format.read_array_header_2_0(
                handle, max_header_size=NPY_HEADER_MAX_BYTES
            )
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, SyntaxError, *ZIP_MEMBER_ERRORS):
        raise _member_error(name, member, _("%(name)s: .npy 배열로 읽을 수 없습니다: %(member)s")) from None
    if dtype.kind not in "biu" or dtype.itemsize > MASK_MAX_ITEMSIZE or dtype.fields is not None:
        raise _member_error(
            name,
            member,
            _(
                "%(name)s: %(member)s은(는) 정수 레이블 배열이어야 합니다. uint8(구조가 255개를 넘으면 "
                "uint16)로 저장해 주세요 (지금: %(dtype)s)."
            ),
            dtype=str(dtype),
        )
    if tuple(found) != shape:
        raise _member_error(
            name,
            member,
            _("%(name)s: %(member)s의 크기 %(have)s이(가) 참조 마스크 크기 %(want)s와 다릅니다."),
            have=list(found),
            want=list(shape),
        )
    size = math.prod(shape) * dtype.itemsize
    try:
        data = handle.read(size)
        trailing = handle.read(1)
    except (OSError, *ZIP_MEMBER_ERRORS):
        raise _member_error(
            name, member, _("%(name)s: ZIP 안의 파일이 손상되었거나 읽을 수 없습니다: %(member)s")
        ) from None
    if len(data) != size or trailing:
        raise _member_error(name, member, _("%(name)s: %(member)s의 크기가 .npy 머리글과 맞지 않습니다."))
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _segmentation_read(path: Path, name: str, test_set: TestSet, *, keep: bool) -> dict[str, Any]:
    """``<case_id>.npy`` label maps from the ZIP at ``path``, each checked against its reference mask.

    With ``keep`` the maps come back as the smallest unsigned type their labels fit (uint8: at most 255
    structures); without, each is dropped once checked and the case ids map to None, so checking an upload
    holds one mask at a time. The members a ZIP may hold are the test set's cases, checked from its end
    record before ``zipfile`` reads its directory, and each decompresses to at most its reference's voxels
    at 2 bytes each (see ``_npy_member_read``).
    """
    masks = dict(TestCase.objects.filter(test_set=test_set).values_list("case_id", "reference__mask"))
    folder = test_set_folder(test_set)
    structures = len(test_set.classes)
    label_type = np.min_scalar_type(max(structures, 1))
    shapes = {
        case_id: tuple(int(size) for size in npy_array_load(folder / mask, mmap_mode="r").shape)
        for case_id, mask in masks.items()
    }
    unreadable = _upload_error(_("%(name)s: ZIP 파일을 읽을 수 없습니다.") % {"name": name})
    outputs: dict[str, Any] = {}
    with path.open("rb") as handle:
        fits = zip_directory_fits(handle, len(shapes))
        if fits is None:
            raise unreadable
        if not fits:
            raise _upload_error(
                _("%(name)s: ZIP에 파일이 너무 많습니다 (시험셋의 증례 수 %(count)d개까지).")
                % {"name": name, "count": len(shapes)}
            )
        try:
            zipped = zipfile.ZipFile(handle)
            infos = zipped.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            raise unreadable from None
        with zipped:
            for info in infos:
                if info.is_dir():
                    continue
                member = info.filename
                case_id = member.removesuffix(".npy")
                if not member_name_safe(member) or "/" in member or not member.endswith(".npy"):
                    raise _member_error(
                        name, member, _("%(name)s: ZIP에는 '<case_id>.npy' 파일만 있어야 합니다: %(member)s")
                    )
                if case_id not in shapes:
                    raise _member_error(name, member, _("%(name)s: 시험셋에 없는 case_id입니다: %(member)s"))
                if case_id in outputs:
                    raise _member_error(
                        name, member, _("%(name)s: 같은 증례의 파일이 두 번 있습니다: %(member)s")
                    )
                if info.flag_bits & 0x1:
                    raise _member_error(
                        name, member, _("%(name)s: 암호가 걸린 파일은 읽을 수 없습니다: %(member)s")
                    )
                try:
                    with zipped.open(info) as member_handle:
                        mask = _npy_member_read(member_handle, name, member, shapes[case_id])
                except (OSError, *ZIP_MEMBER_ERRORS):
                    raise _member_error(
                        name, member, _("%(name)s: ZIP 안의 파일이 손상되었거나 읽을 수 없습니다: %(member)s")
                    ) from None
                if mask.size and (int(mask.min()) < 0 or int(mask.max()) > structures):
                    raise _member_error(
                        name,
                        member,
                        _("%(name)s: %(member)s의 값은 0부터 %(last)d까지여야 합니다."),
                        last=structures,
                    )
                outputs[case_id] = mask.astype(label_type) if keep else None
    return outputs


def _predictions(path: Path, *, test_set: TestSet, name: str, keep: bool) -> dict[str, Any]:
    name = name or path.name
    case_ids = set(TestCase.objects.filter(test_set=test_set).values_list("case_id", flat=True))
    if test_set.task_type == TaskType.SEGMENTATION:
        return _segmentation_read(path, name, test_set, keep=keep)
    try:
        if test_set.task_type == TaskType.DETECTION:
            return _detection_read(path, name, case_ids, keep=keep)
        return _classification_read(path, name, test_set, case_ids)
    except InputFileError as error:
        raise _upload_error(str(error)) from None


def predictions_read(path: Path, *, test_set: TestSet, name: str = "") -> dict[str, Any]:
    """The predictions in the file at ``path`` by case id, in the form ``results_compute`` reads; a
    ``DomainError`` (field "file") names the line or member that is wrong."""
    return _predictions(path, test_set=test_set, name=name, keep=True)


def predictions_check(path: Path, *, test_set: TestSet, name: str = "") -> int:
    """Check the predictions file at ``path`` as ``predictions_read`` does, keeping none of it (masks and
    boxes can be large, and the run reads them again); returns how many cases it predicts."""
    return len(_predictions(path, test_set=test_set, name=name, keep=False))


# ---------------------------------------------------------------------------------------------------------
# Submitting
# ---------------------------------------------------------------------------------------------------------


def _member_ensure(actor: User, evaluation: Evaluation) -> None:
    if not (actor.has_role(Role.APPLICANT) and actor.organisation_id == evaluation.company_id):
        raise PermissionDeniedError("forbidden", _("이 성능시험의 기업 담당자만 제출할 수 있습니다."))


def _extension(kind: str, task_type: str, file_name: str) -> str:
    lower = file_name.lower()
    if kind == Submission.Kind.MODEL:
        wanted = "onnx"
    elif task_type == TaskType.SEGMENTATION:
        wanted = "zip"
    else:
        wanted = "csv"
    if not lower.endswith(f".{wanted}"):
        raise _upload_error(_("이 제출에는 .%(extension)s 파일을 올려 주세요.") % {"extension": wanted})
    return wanted


def _store(upload: UploadedFile, evaluation: Evaluation, extension: str) -> tuple[str, int, str]:
    """Copy the upload to ``submissions/<evaluation pk>/<uuid>.<ext>``; its relative path, size, SHA-256."""
    limit = int(settings.MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES)
    relative = f"{SUBMISSIONS_FOLDER}/{evaluation.pk}/{uuid.uuid4().hex}.{extension}"
    target = evaluation_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    upload.seek(0)
    try:
        with target.open("wb") as handle:
            for chunk in upload.chunks(COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _upload_error(
                        _("파일이 너무 큽니다 (%(limit)d MB까지).") % {"limit": limit // (1024 * 1024)}
                    )
                digest.update(chunk)
                handle.write(chunk)
        # An upload handler that stops keeping data at its limit still reports the full size: a file cut
        # short must not be stored and run as though it were the company's.
        if upload.size is not None and size != upload.size:
            raise _upload_error(
                _("파일을 끝까지 받지 못했습니다 (%(received)d / %(size)d 바이트). 다시 올려 주세요.")
                % {"received": size, "size": upload.size}
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return relative, size, digest.hexdigest()


def _onnx_check(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(ONNX_MIN_BYTES)
    looks_right = len(head) >= ONNX_MIN_BYTES and head[0] in ONNX_FIRST_KEYS
    if looks_right and head[0] == 0x08:
        # ir_version, a small number (3 to 11 in the wild).
        looks_right = 1 <= head[1] <= 64
    if not looks_right:
        raise _upload_error(_("ONNX 모델 파일이 아닙니다. 모델을 ONNX 형식(.onnx)으로 내보내 올려 주세요."))


def _quota_check(evaluation: Evaluation) -> None:
    now = timeutils.now()
    days = int(settings.MEDBROKER_EVALUATION_QUOTA_DAYS)
    since = now - dt.timedelta(days=days)
    window = Submission.objects.filter(evaluation__company_id=evaluation.company_id, created_at__gt=since)
    if window.count() < int(settings.MEDBROKER_EVALUATION_QUOTA):
        return
    oldest = window.order_by("created_at").values_list("created_at", flat=True).first()
    assert oldest is not None
    next_possible = timeutils.to_kst(oldest + dt.timedelta(days=days))
    raise DomainError(
        "submission_quota",
        _("제출 한도(%(days)d일에 %(quota)d회)를 모두 썼습니다. 다음 제출은 %(when)s 이후에 할 수 있습니다.")
        % {
            "days": days,
            "quota": settings.MEDBROKER_EVALUATION_QUOTA,
            "when": next_possible.strftime("%Y-%m-%d %H:%M"),
        },
        status_code=409,
        details={"next_possible_at": next_possible.isoformat()},
    )


def _label_clean(label: str) -> str:
    label = re.sub(r"\s+", " ", (label or "").strip())
    if len(label) > 200:
        raise DomainError("label_too_long", _("제출 이름은 200자까지입니다."), field="label")
    return label


def submission_create(
    *,
    actor: User,
    evaluation: Evaluation,
    kind: str,
    upload: UploadedFile,
    manifest: dict[str, Any] | None = None,
    label: str = "",
    request: HttpRequest | None = None,
) -> Submission:
    """Check and store a company's model or predictions file, and queue its run (after commit)."""
    _member_ensure(actor, evaluation)
    evaluation = Evaluation.objects.select_related("test_set").get(pk=evaluation.pk)
    if kind not in Submission.Kind.values:
        raise DomainError("submission_kind_invalid", _("제출 유형이 올바르지 않습니다."), field="kind")
    if evaluation.status != Evaluation.Status.LOCKED:
        raise DomainError(
            "evaluation_not_locked",
            _("분석계획이 확정된 시험에만 제출할 수 있습니다 (현재 상태: %(status)s).")
            % {"status": evaluation.get_status_display()},
            status_code=409,
        )
    test_set = evaluation.test_set
    file_name = Path(getattr(upload, "name", "") or "upload").name[:255]
    label = _label_clean(label)
    extension = _extension(kind, test_set.task_type, file_name)
    # A cheap count first, so that a company over its quota is told so before its file is read and stored;
    # the count under the lock below is the one that decides.
    _quota_check(evaluation)
    limit = int(settings.MEDBROKER_EVALUATION_MAX_UPLOAD_BYTES)
    if (upload.size or 0) > limit:
        raise _upload_error(_("파일이 너무 큽니다 (%(limit)d MB까지).") % {"limit": limit // (1024 * 1024)})
    if kind == Submission.Kind.MODEL:
        manifest = manifest_validate(manifest, task_type=test_set.task_type)
        if TestCase.objects.filter(test_set=test_set, input_file="").exists():
            raise DomainError(
                "test_set_without_inputs",
                _(
                    "이 시험셋에는 모델 입력 파일이 없는 증례가 있어 모델로 시험할 수 없습니다. 예측 결과 파일을 제출해 주세요."
                ),
                status_code=409,
                field="kind",
            )
    else:
        manifest = {}
    relative, size, sha256 = _store(upload, evaluation, extension)
    path = evaluation_root() / relative
    try:
        if kind == Submission.Kind.MODEL:
            _onnx_check(path)
            predictions = 0
        else:
            predictions = predictions_check(path, test_set=test_set, name=file_name)
        with transaction.atomic():
            evaluation = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
            if evaluation.status != Evaluation.Status.LOCKED:
                raise DomainError(
                    "evaluation_not_locked",
                    _("분석계획이 확정된 시험에만 제출할 수 있습니다 (현재 상태: %(status)s).")
                    % {"status": evaluation.get_status_display()},
                    status_code=409,
                )
            # The quota is the company's, across its evaluations: its row is the lock two submissions meet at.
            Organisation.objects.select_for_update().filter(pk=evaluation.company_id).first()
            _quota_check(evaluation)
            submission = Submission.objects.create(
                evaluation=evaluation,
                kind=kind,
                label=label,
                file=relative,
                file_name=file_name,
                file_size=size,
                file_sha256=sha256,
                manifest=manifest,
                submitted_by=actor,
            )
            audit_record(
                action="evaluations.submission_created",
                actor=actor,
                target=submission,
                summary=f"제출: {evaluation.number} · {label or file_name}",
                data={
                    "evaluation": evaluation.number,
                    "kind": kind,
                    "file_name": file_name,
                    "file_size": size,
                    "file_sha256": sha256,
                    "manifest": manifest,
                    "predicted_cases": predictions,
                },
                request=request,
            )
            # Imported here: the runs service reads predictions with this module's reader.
            from medbroker.evaluations.services.runs import run_queue

            run_queue(submission=submission, actor=actor, request=request)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return submission
