"""Test sets: registering, importing cases all or nothing (with the line of each problem), safe extraction of
the ZIP, activation with its content hash, retirement."""

from __future__ import annotations

import csv
import hashlib
import io
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from medbroker.accounts.models import User
from medbroker.audit.models import AuditEvent
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.evaluations import models, testdata
from medbroker.evaluations.services import test_sets
from medbroker.evaluations.services.test_sets import (
    test_set_activate,
    test_set_cases_import,
    test_set_create,
    test_set_folder,
    test_set_retire,
)
from medbroker.evaluations.tests.conftest import uploads

pytestmark = pytest.mark.django_db


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content in members.items():
            zipped.writestr(name, content)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _draft(operator: User, task_type: str = "binary", **options: Any) -> models.TestSet:
    classes = {"binary": ["음성", "양성"], "multiclass": ["정상", "양성 결절", "악성 결절"]}.get(
        task_type, ["결절"]
    )
    return test_set_create(
        actor=operator,
        name=options.pop("name", "흉부 X선 시험셋"),
        version="1.0",
        task_type=task_type,
        data_kind="imaging",
        classes=options.pop("classes", classes),
        **options,
    )


def _import(
    operator: User, test_set: models.TestSet, cases_csv: str | bytes, archive: bytes | None = None
) -> int:
    content = cases_csv.encode() if isinstance(cases_csv, str) else cases_csv
    csv_file, zip_file = uploads(content, archive)
    return test_set_cases_import(actor=operator, test_set=test_set, cases_csv=csv_file, archive=zip_file)


def _nothing_saved(test_set: models.TestSet) -> None:
    assert models.TestCase.objects.filter(test_set=test_set).count() == 0
    assert not test_set_folder(test_set).exists()
    incoming = Path(django_settings.MEDBROKER_EVALUATION_ROOT) / "test-sets" / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []
    assert not AuditEvent.objects.filter(action="evaluations.test_set_cases_imported").exists()


# ---------------------------------------------------------------------------------------------------------
# Registering
# ---------------------------------------------------------------------------------------------------------


def test_an_operator_registers_a_test_set(operator: User) -> None:
    test_set = _draft(
        operator, "segmentation", classes=[" 간 ", "비장"], spacing=[0.7, 0.7], description=" 복부 CT "
    )

    assert (
        test_set.name,
        test_set.task_type,
        test_set.classes,
        test_set.spacing,
        test_set.status,
        test_set.description,
        test_set.created_by,
    ) == ("흉부 X선 시험셋", "segmentation", ["간", "비장"], [0.7, 0.7], "draft", "복부 CT", operator)
    event = AuditEvent.objects.get(action="evaluations.test_set_created")
    assert (event.actor, event.object_id) == (operator, str(test_set.pk))


def test_only_operators_register(applicant: User, auditor: User) -> None:
    for user in (applicant, auditor):
        with pytest.raises(PermissionDeniedError):
            _draft(user)

    assert models.TestSet.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"classes": ["양성"]}, "classes", "이진 분류의 클래스는 '음성, 양성' 두 개여야 합니다."),
        ({"classes": ["음성", "음성"]}, "classes", "클래스·구조 이름은 비어 있지 않고 서로 달라야 합니다."),
        ({"spacing": [0.7, -1]}, "spacing", "화소 간격은 0보다 큰 숫자여야 합니다."),
        ({"name": " "}, "name", "시험셋 이름을 입력해 주세요."),
    ],
)
def test_registration_problems(operator: User, options: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(DomainError) as error:
        _draft(operator, **options)

    assert (error.value.field, str(error.value)) == (field, message)
    assert models.TestSet.objects.count() == 0


def test_a_name_and_version_are_registered_once(operator: User) -> None:
    _draft(operator)

    with pytest.raises(DomainError) as error:
        _draft(operator)

    assert (error.value.code, error.value.status_code) == ("test_set_exists", 409)
    assert models.TestSet.objects.count() == 1


# ---------------------------------------------------------------------------------------------------------
# Importing
# ---------------------------------------------------------------------------------------------------------


def test_cases_and_their_files_are_imported(operator: User) -> None:
    test_set = _draft(operator)
    cases_csv, archive = testdata.classification_test_set_files(6, seed=1)
    members = testdata.archive_arrays(archive)

    added = _import(operator, test_set, cases_csv, archive)

    assert added == 6
    cases = list(models.TestCase.objects.filter(test_set=test_set).order_by("case_id"))
    assert [(case.case_id, case.reference, case.input_file) for case in cases] == [
        (f"C{index:04d}", {"label": (index - 1) % 2}, f"inputs/C{index:04d}.npy") for index in range(1, 7)
    ]
    assert cases[0].attributes == {
        "institution": "경북대학교병원",
        "manufacturer": "GE",
        "age_group": "40대",
        "sex": "M",
    }
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert [case.input_sha256 for case in cases] == [
            hashlib.sha256(zipped.read(case.input_file)).hexdigest() for case in cases
        ]
    stored = test_set_folder(test_set) / "inputs" / "C0001.npy"
    np.testing.assert_array_equal(np.load(stored), members["inputs/C0001.npy"])
    event = AuditEvent.objects.get(action="evaluations.test_set_cases_imported")
    assert (event.data["cases"], event.data["files"]) == (6, 6)


def test_a_multiclass_label_may_be_a_class_name(operator: User) -> None:
    test_set = _draft(operator, "multiclass")

    _import(operator, test_set, "case_id,label\nM1,악성 결절\nM2,1\nM3,정상\n")

    assert list(models.TestCase.objects.filter(test_set=test_set).values_list("reference", flat=True)) == [
        {"label": 2},
        {"label": 1},
        {"label": 0},
    ]


def test_detection_boxes_are_read_from_json(operator: User) -> None:
    test_set = _draft(operator, "detection")

    _import(operator, test_set, 'case_id,boxes\nD1,"[[10, 20, 30, 30], [1.5, 2, 3, 4]]"\nD2,[]\n')

    assert list(models.TestCase.objects.filter(test_set=test_set).values_list("reference", flat=True)) == [
        {"boxes": [[10.0, 20.0, 30.0, 30.0], [1.5, 2.0, 3.0, 4.0]]},
        {"boxes": []},
    ]


@pytest.mark.parametrize(
    ("task_type", "cases_csv", "errors"),
    [
        (
            "binary",
            "case_id,label,sex\nC1,1,F\nC2,2,M\nC1,0,M\nC/4,1,F\nC5,0,X\n",
            [
                "cases.csv 3번째 줄: label은 0 또는 1이어야 합니다 (지금: '2').",
                "cases.csv 4번째 줄: case_id 'C1'이(가) 중복됩니다.",
                "cases.csv 5번째 줄: case_id 'C/4'은(는) 영문·숫자로 시작하고 영문·숫자·. _ -만 쓴 100자 이하여야 합니다.",
                "cases.csv 6번째 줄: sex는 M 또는 F여야 합니다 (지금: 'X').",
            ],
        ),
        ("binary", "case_id,score\nC1,0.5\n", ["cases.csv: 필수 열이 없습니다: label"]),
        ("binary", "case_id,label\n", ["cases.csv: 증례가 하나도 없습니다."]),
        (
            "multiclass",
            "case_id,label\nM1,3\n",
            ["cases.csv 2번째 줄: label은 클래스 번호(0~2) 또는 클래스 이름이어야 합니다 (지금: '3')."],
        ),
        (
            "detection",
            'case_id,boxes\nD1,"[[1, 2, 3]]"\nD2,"[[1, 2, 0, 4]]"\nD3,none\n',
            [
                "cases.csv 2번째 줄: 상자마다 숫자 4개 [x, y, w, h]가 있어야 합니다.",
                "cases.csv 3번째 줄: 상자의 너비와 높이는 0보다 커야 합니다.",
                "cases.csv 4번째 줄: boxes가 JSON 목록이 아닙니다 (예: [[10, 20, 30, 30]], 병변이 없으면 []).",
            ],
        ),
        (
            "binary",
            "case_id,label,input\nC1,1,../escape.npy\nC2,0,/etc/passwd.npy\nC3,1,image.png\n",
            [
                "cases.csv 2번째 줄: input '../escape.npy'은(는) ZIP 안의 .npy 또는 .dcm 파일 경로여야 합니다.",
                "cases.csv 3번째 줄: input '/etc/passwd.npy'은(는) ZIP 안의 .npy 또는 .dcm 파일 경로여야 합니다.",
                "cases.csv 4번째 줄: input 'image.png'은(는) ZIP 안의 .npy 또는 .dcm 파일 경로여야 합니다.",
            ],
        ),
    ],
)
def test_every_wrong_row_is_named_and_nothing_is_saved(
    operator: User, task_type: str, cases_csv: str, errors: list[str]
) -> None:
    test_set = _draft(operator, task_type)

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, cases_csv)

    assert (error.value.code, error.value.field) == ("test_set_cases_invalid", "cases_csv")
    assert error.value.details == {"errors": errors}
    assert str(error.value) == "증례 가져오기를 하지 못했습니다. 아무것도 저장하지 않았습니다. " + " ".join(
        errors
    )
    _nothing_saved(test_set)


def test_each_problem_names_the_uploaded_file(operator: User) -> None:
    test_set = _draft(operator)
    rows = SimpleUploadedFile("흉부-2025.csv", b"case_id,label,input\nC1,1,a.npy\nC2,0,b.npy\n")
    archive = SimpleUploadedFile("영상-2025.zip", _zip({"a.npy": _npy(np.zeros(4))}))

    with pytest.raises(DomainError) as wrong_row:
        test_set_cases_import(
            actor=operator,
            test_set=test_set,
            cases_csv=SimpleUploadedFile("흉부-2025.csv", b"case_id,label\nC1,7\n"),
        )
    with pytest.raises(DomainError) as no_rows:
        test_set_cases_import(
            actor=operator, test_set=test_set, cases_csv=SimpleUploadedFile("빈목록.csv", b"case_id,label\n")
        )
    with pytest.raises(DomainError) as missing_member:
        test_set_cases_import(actor=operator, test_set=test_set, cases_csv=rows, archive=archive)

    assert wrong_row.value.details == {
        "errors": ["흉부-2025.csv 2번째 줄: label은 0 또는 1이어야 합니다 (지금: '7')."]
    }
    assert no_rows.value.details == {"errors": ["빈목록.csv: 증례가 하나도 없습니다."]}
    assert missing_member.value.details == {
        "errors": ["흉부-2025.csv 3번째 줄: 영상-2025.zip에 'b.npy' 파일이 없습니다."]
    }
    _nothing_saved(test_set)


def test_every_subgroup_of_the_generated_binary_set_holds_both_classes() -> None:
    cases_csv, _archive = testdata.classification_test_set_files(40, seed=3)
    rows = list(csv.DictReader(io.StringIO(cases_csv.decode())))

    counted: dict[str, dict[str, list[int]]] = {}
    for row in rows:
        for attribute in ("institution", "manufacturer", "age_group", "sex"):
            labels = counted.setdefault(attribute, {}).setdefault(row[attribute], [0, 0])
            labels[int(row["label"])] += 1

    # [negatives, positives] per value: no subgroup is a single class.
    assert counted == {
        "institution": {"경북대학교병원": [10, 10], "계명대학교동산병원": [10, 10]},
        "manufacturer": {"GE": [10, 10], "Siemens": [10, 10]},
        "age_group": {"40대": [5, 5], "50대": [5, 5], "60대": [5, 5], "70대": [5, 5]},
        "sex": {"M": [12, 12], "F": [8, 8]},
    }


def test_a_file_that_is_not_utf8_is_refused(operator: User) -> None:
    test_set = _draft(operator)

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, "case_id,label\n증례1,1\n".encode("cp949"))

    assert str(error.value) == "cases.csv: UTF-8로 저장한 CSV 파일이어야 합니다."
    _nothing_saved(test_set)


@pytest.mark.parametrize(
    ("archive", "field", "message"),
    [
        (None, "archive", "증례 목록이 입력·마스크 파일을 가리키므로 그 파일을 담은 ZIP을 함께 올려 주세요."),
        (b"not a zip", "archive", "ZIP 파일을 읽을 수 없습니다."),
        (
            _zip({"a.npy": _npy(np.zeros(4))}),
            "archive",
            "cases.csv 3번째 줄: cases.zip에 'b.npy' 파일이 없습니다.",
        ),
        (
            _zip({"a.npy": _npy(np.zeros(4)), "b.npy": _npy(np.zeros(4)), "../evil.npy": b"x"}),
            "archive",
            "ZIP에 안전하지 않은 경로가 있습니다 (절대 경로나 '..'): ../evil.npy",
        ),
        (
            _zip({"a.npy": _npy(np.zeros(4))}, links=("b.npy",)),
            "archive",
            "ZIP에 링크가 있습니다: b.npy",
        ),
        (
            _zip({"a.npy": _npy(np.zeros(4)), "b.npy": b"not an array"}),
            "archive",
            "cases.csv 3번째 줄: 입력 파일을 읽을 수 없습니다: b.npy",
        ),
    ],
)
def test_archive_problems(operator: User, archive: bytes | None, field: str, message: str) -> None:
    test_set = _draft(operator)

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, "case_id,label,input\nC1,1,a.npy\nC2,0,b.npy\n", archive)

    assert error.value.field == field
    assert message in str(error.value)
    _nothing_saved(test_set)


def _damaged(archive: bytes, name: str, *, method: int | None = None) -> bytes:
    """``archive`` with member ``name``'s stored data changed (its CRC then fails) or, with ``method``, its
    compression method set to one zipfile cannot read."""
    data = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        info = zipped.getinfo(name)
    local = info.header_offset
    if method is None:
        start = local + 30 + int.from_bytes(data[local + 26 : local + 28], "little")
        start += int.from_bytes(data[local + 28 : local + 30], "little")
        data[start] ^= 0xFF
        return bytes(data)
    data[local + 8 : local + 10] = method.to_bytes(2, "little")
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        length = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + length] == name.encode():
            data[central + 10 : central + 12] = method.to_bytes(2, "little")
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def _stored_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zipped:
        for name, content in members.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (
            _damaged(_stored_zip({"a.npy": _npy(np.zeros(4)), "b.npy": _npy(np.ones(4))}), "b.npy"),
            "ZIP 안의 파일이 손상되었거나 지원하지 않는 압축 방식입니다: b.npy",
        ),
        (
            _damaged(
                _stored_zip({"a.npy": _npy(np.zeros(4)), "b.npy": _npy(np.ones(4))}), "b.npy", method=99
            ),
            "ZIP 안의 파일이 손상되었거나 지원하지 않는 압축 방식입니다: b.npy",
        ),
    ],
)
def test_a_damaged_archive_member_is_named(operator: User, archive: bytes, message: str) -> None:
    test_set = _draft(operator)

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, "case_id,label,input\nC1,1,a.npy\nC2,0,b.npy\n", archive)

    assert (error.value.code, error.value.field) == ("archive_invalid", "archive")
    assert str(error.value) == message
    _nothing_saved(test_set)


def test_an_npz_named_npy_is_an_unreadable_file(operator: User) -> None:
    test_set = _draft(operator, "segmentation")
    npz = io.BytesIO()
    np.savez(npz, mask=np.zeros((8, 8), dtype=np.uint8))
    archive = _zip(
        {
            "i1.npy": _npy(np.zeros((8, 8))),
            "m1.npy": npz.getvalue(),
            "i2.npy": npz.getvalue(),
            "m2.npy": _npy(np.zeros((8, 8), dtype=np.uint8)),
        }
    )

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, "case_id,mask,input\nS1,m1.npy,i1.npy\nS2,m2.npy,i2.npy\n", archive)

    assert error.value.details == {
        "errors": [
            "cases.csv 2번째 줄: 마스크 파일을 읽을 수 없습니다: m1.npy",
            "cases.csv 3번째 줄: 입력 파일을 읽을 수 없습니다: i2.npy",
        ]
    }
    _nothing_saved(test_set)


def test_the_number_of_members_is_checked_before_the_archive_is_opened(
    operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_set = _draft(operator)
    archive = _zip({"a.npy": _npy(np.zeros(4)), "b.npy": _npy(np.ones(4)), "c.txt": b"x"})
    monkeypatch.setattr(test_sets, "ARCHIVE_MAX_MEMBERS", 2)

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the archive's directory was read")

    monkeypatch.setattr(test_sets.zipfile, "ZipFile", never)

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, "case_id,label,input\nC1,1,a.npy\nC2,0,b.npy\n", archive)

    assert str(error.value) == "ZIP에 파일이 너무 많습니다 (2개까지)."
    _nothing_saved(test_set)


def test_the_declared_directory_is_read_from_the_end_record() -> None:
    archive = _zip({"a.npy": _npy(np.zeros(4)), "b.npy": _npy(np.ones(4)), "c.txt": b"x"})
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        infos = zipped.infolist()
    directory = sum(46 + len(info.filename) + len(info.extra) + len(info.comment) for info in infos)
    zip64 = io.BytesIO()
    with zipfile.ZipFile(zip64, "w") as zipped:
        for name in ("x.npy", "y.npy"):
            with zipped.open(name, "w", force_zip64=True) as handle:
                handle.write(b"data")
    zip64_directory = zipfile.ZipFile(io.BytesIO(zip64.getvalue())).infolist()

    assert test_sets.zip_directory_declared(io.BytesIO(archive)) == (3, directory)
    assert test_sets.zip_directory_declared(io.BytesIO(zip64.getvalue()))[0] == len(zip64_directory) == 2
    assert test_sets.zip_directory_declared(io.BytesIO(b"not a zip")) is None
    assert test_sets.zip_directory_fits(io.BytesIO(archive), 3) is True
    assert test_sets.zip_directory_fits(io.BytesIO(archive), 2) is False


def test_only_the_files_the_cases_name_are_kept(operator: User) -> None:
    test_set = _draft(operator)
    archive = _zip({"a.npy": _npy(np.zeros(4)), "notes/readme.txt": b"hello", "b.npy": _npy(np.ones(4))})

    _import(operator, test_set, "case_id,label,input\nC1,1,a.npy\nC2,0,b.npy\n", archive)

    assert sorted(path.name for path in test_set_folder(test_set).rglob("*") if path.is_file()) == [
        "a.npy",
        "b.npy",
    ]


def test_masks_must_fit_their_inputs_and_the_structures(operator: User) -> None:
    test_set = _draft(operator, "segmentation", spacing=[1.0, 1.0])
    archive = _zip(
        {
            "i1.npy": _npy(np.zeros((8, 8))),
            "m1.npy": _npy(np.zeros((8, 6), dtype=np.uint8)),
            "i2.npy": _npy(np.zeros((8, 8))),
            "m2.npy": _npy(np.full((8, 8), 2, dtype=np.uint8)),
            "m3.npy": _npy(np.zeros((2, 8, 8), dtype=np.uint8)),
            "m4.npy": _npy(np.zeros((8, 8), dtype=np.float32)),
        }
    )
    cases_csv = "case_id,mask,input\nS1,m1.npy,i1.npy\nS2,m2.npy,i2.npy\nS3,m3.npy,\nS4,m4.npy,\n"

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, cases_csv, archive)

    assert error.value.details == {
        "errors": [
            "cases.csv 2번째 줄: 마스크 크기 [8, 6]이(가) 입력 크기 [8, 8]와 다릅니다: m1.npy",
            "cases.csv 3번째 줄: 마스크 값은 0(배경)부터 1까지여야 합니다: m2.npy",
            "cases.csv 4번째 줄: 마스크는 3차원인데 시험셋의 화소 간격은 2개입니다: m3.npy",
            "cases.csv 5번째 줄: 마스크는 2차원 또는 3차원 정수 배열이어야 합니다: m4.npy",
        ]
    }
    _nothing_saved(test_set)


def test_cases_already_imported_are_refused(operator: User) -> None:
    test_set = _draft(operator)
    _import(operator, test_set, "case_id,label,input\nC1,1,a.npy\n", _zip({"a.npy": _npy(np.zeros(4))}))

    with pytest.raises(DomainError) as error:
        _import(
            operator, test_set, "case_id,label,input\nC2,0,a.npy\nC1,0,\n", _zip({"a.npy": _npy(np.ones(4))})
        )

    assert error.value.details == {
        "errors": [
            "cases.csv 2번째 줄: 파일 'a.npy'은(는) 이미 다른 증례가 씁니다.",
            "cases.csv 3번째 줄: case_id 'C1'은(는) 이미 가져온 증례입니다.",
        ]
    }
    assert list(models.TestCase.objects.filter(test_set=test_set).values_list("case_id", flat=True)) == ["C1"]
    np.testing.assert_array_equal(np.load(test_set_folder(test_set) / "a.npy"), np.zeros(4))


def test_cases_are_imported_by_operators_only_and_only_into_a_draft(operator: User, applicant: User) -> None:
    test_set = _draft(operator)
    with pytest.raises(PermissionDeniedError):
        _import(applicant, test_set, "case_id,label\nC1,1\n")
    _import(operator, test_set, "case_id,label\nC1,1\nC2,0\n")
    test_set_activate(actor=operator, test_set=test_set)

    with pytest.raises(DomainError) as error:
        _import(operator, test_set, "case_id,label\nC3,1\n")

    assert (error.value.code, error.value.status_code) == ("test_set_not_draft", 409)
    assert models.TestCase.objects.filter(test_set=test_set).count() == 2


# ---------------------------------------------------------------------------------------------------------
# Activating and retiring
# ---------------------------------------------------------------------------------------------------------


def test_activation_fixes_the_content_hash(operator: User) -> None:
    test_set = _draft(operator)
    image = _npy(np.arange(4, dtype=np.float32))
    _import(
        operator,
        test_set,
        "case_id,label,input,sex,site\nC2,0,,,\nC1,1,a.npy,F,대구\n",
        _zip({"a.npy": image}),
    )

    activated = test_set_activate(actor=operator, test_set=test_set)

    # The cases sorted by id, keys sorted, no spaces, UTF-8: written out by hand.
    canonical = (
        '[{"attributes":{"sex":"F","site":"대구"},"case_id":"C1","input_sha256":"'
        + hashlib.sha256(image).hexdigest()
        + '","mask_sha256":"","reference":{"label":1}},'
        '{"attributes":{},"case_id":"C2","input_sha256":"","mask_sha256":"","reference":{"label":0}}]'
    ).encode()
    assert activated.content_sha256 == hashlib.sha256(canonical).hexdigest()
    assert activated.status == "active"
    event = AuditEvent.objects.get(action="evaluations.test_set_activated")
    assert event.data == {"content_sha256": activated.content_sha256, "cases": 2}


def test_the_content_hash_covers_the_masks(operator: User) -> None:
    test_set = _draft(operator, "segmentation")
    mask = _npy(np.eye(4, dtype=np.uint8))
    _import(operator, test_set, "case_id,mask\nS1,m.npy\n", _zip({"m.npy": mask}))

    activated = test_set_activate(actor=operator, test_set=test_set)

    canonical = (
        '[{"attributes":{},"case_id":"S1","input_sha256":"","mask_sha256":"'
        + hashlib.sha256(mask).hexdigest()
        + '","reference":{"mask":"m.npy"}}]'
    ).encode()
    assert activated.content_sha256 == hashlib.sha256(canonical).hexdigest()


@pytest.mark.parametrize(
    ("cases_csv", "code"),
    [(None, "test_set_empty"), ("case_id,label\nC1,1\nC2,1\n", "test_set_one_class")],
)
def test_activation_needs_cases_of_both_classes(operator: User, cases_csv: str | None, code: str) -> None:
    test_set = _draft(operator)
    if cases_csv:
        _import(operator, test_set, cases_csv)

    with pytest.raises(DomainError) as error:
        test_set_activate(actor=operator, test_set=test_set)

    assert (error.value.code, error.value.status_code) == (code, 409)
    test_set.refresh_from_db()
    assert (test_set.status, test_set.content_sha256) == ("draft", "")


def test_a_test_set_is_activated_once_and_then_retired(operator: User, applicant: User) -> None:
    test_set = _draft(operator)
    _import(operator, test_set, "case_id,label\nC1,1\nC2,0\n")
    with pytest.raises(DomainError) as early:
        test_set_retire(actor=operator, test_set=test_set)
    test_set_activate(actor=operator, test_set=test_set)
    with pytest.raises(DomainError) as again:
        test_set_activate(actor=operator, test_set=test_set)
    with pytest.raises(PermissionDeniedError):
        test_set_retire(actor=applicant, test_set=test_set)

    retired = test_set_retire(actor=operator, test_set=test_set)

    assert (early.value.status_code, again.value.status_code) == (409, 409)
    assert retired.status == "retired"
    assert AuditEvent.objects.filter(action="evaluations.test_set_retired").count() == 1
