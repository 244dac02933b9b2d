"""Writes of a dataset's scan settings: where its files are and which options of PS3.15 Annex E it keeps.

A steward types a folder path into a page and the server then reads that folder, so a path is accepted only
inside one of ``settings.MEDBROKER_SCAN_ROOTS``, judged after resolving symbolic links and ``..``: otherwise
a steward could make the server read its own configuration or another institution's data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medbroker.audit.services import audit_record
from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import user_can_manage_institution
from medbroker.core.errors import DomainError, PermissionDeniedError
from medbroker.ingest.models import ScanProfile

PROFILE_FIELDS: tuple[str, ...] = (
    "source_path",
    "dicomweb_url",
    "retain_institution_identity",
    "retain_device_identity",
    "private_safe_list",
    "label_patterns",
    "pseudonym_pattern",
)
# "gggg,xxee@CREATOR": a private element of an odd group, its block byte left open (the creator's block is
# assigned per file), and the private creator that owns it. "XX" is taken too and stored as "xx".
PRIVATE_TAG_PATTERN = re.compile(r"^([0-9A-Fa-f]{4}),[xX]{2}([0-9A-Fa-f]{2})@(.{1,64})$")
_URL_MAX = 500
_PATH_MAX = 500
_PATTERN_MAX = 200


def scan_manager_require(*, actor: Any, dataset: Dataset) -> None:
    """Scans and their settings belong to the institution's data stewards and to operators."""
    if not user_can_manage_institution(user=actor, institution=dataset.institution):
        raise PermissionDeniedError(
            "ingest_not_allowed",
            _(
                "이 데이터셋의 스캔을 관리할 권한이 없습니다. 운영자 또는 해당 기관의 데이터 관리자만 할 수 있습니다."
            ),
        )


def scan_roots() -> list[Path]:
    return [Path(root).resolve() for root in settings.MEDBROKER_SCAN_ROOTS]


def scan_folder_check(value: str, *, field: str = "source_path") -> str:
    """The folder ``value`` resolved, when it is an existing folder inside an allowed root; else an error.

    Resolution follows symbolic links and ``..``, so ``<root>/../etc`` and a link inside a root that points
    outside it are both refused. The resolved path is what is stored and scanned, so swapping a link after
    the check does not move the scan elsewhere.
    """
    if not Path(value).is_absolute():
        raise DomainError(
            "scan_path_not_absolute", _("데이터 폴더는 /로 시작하는 절대 경로로 입력해 주세요."), field=field
        )
    try:
        resolved = Path(value).resolve()
    except (OSError, RuntimeError):
        # A symlink loop, or a name the file system refuses.
        raise DomainError(
            "scan_path_invalid", _("데이터 폴더 경로를 확인할 수 없습니다."), field=field
        ) from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in scan_roots()):
        raise DomainError(
            "scan_path_outside_roots",
            _("허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: %(roots)s")
            % {"roots": ", ".join(settings.MEDBROKER_SCAN_ROOTS)},
            field=field,
        )
    if not resolved.is_dir():
        raise DomainError("scan_path_not_found", _("데이터 폴더가 없거나 폴더가 아닙니다."), field=field)
    return str(resolved)


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError("scan_profile_invalid", _("문자열이어야 합니다."), field=name)
    return value.strip()


def _lines(name: str, value: Any) -> list[str]:
    """A list of strings; a text with one entry per line (a form's text area) is accepted too."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise DomainError("scan_profile_invalid", _("문자열 목록이어야 합니다."), field=name)
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


def _source_path_clean(value: Any) -> str:
    text = _text("source_path", value)
    if not text:
        return ""
    if len(text) > _PATH_MAX:
        raise DomainError("scan_path_invalid", _("데이터 폴더 경로가 너무 깁니다."), field="source_path")
    return scan_folder_check(text)


def _dicomweb_url_clean(value: Any) -> str:
    text = _text("dicomweb_url", value)
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(text) > _URL_MAX:
        raise DomainError(
            "scan_dicomweb_url_invalid",
            _("DICOMweb 주소는 http:// 또는 https://로 시작하는 주소여야 합니다."),
            field="dicomweb_url",
        )
    return text.rstrip("/")


def _private_safe_list_clean(value: Any) -> list[str]:
    cleaned: list[str] = []
    for entry in _lines("private_safe_list", value):
        match = PRIVATE_TAG_PATTERN.match(entry)
        if match is None or int(match.group(1), 16) % 2 == 0:
            raise DomainError(
                "scan_private_tag_invalid",
                _(
                    "비공개 태그 '%(entry)s'의 형식이 올바르지 않습니다. 예: 0009,xx10@GEMS_IDEN_01 (그룹은 홀수)"
                )
                % {"entry": entry},
                field="private_safe_list",
            )
        group, element, creator = match.groups()
        # Hex digits in one case, so "0009,xx10@X" and "0009,XX10@X" are not two entries; the creator is
        # compared exactly as the file states it.
        cleaned.append(f"{group.upper()},xx{element.upper()}@{creator}")
    return list(dict.fromkeys(cleaned))


def _label_patterns_clean(value: Any) -> list[str]:
    patterns = _lines("label_patterns", value)
    for pattern in patterns:
        if "/" in pattern or "\\" in pattern:
            raise DomainError(
                "scan_label_pattern_invalid",
                _(
                    "라벨 파일 패턴 '%(pattern)s'에는 폴더 구분자(/)를 쓸 수 없습니다. 파일 이름의 패턴만 적어 주세요."
                )
                % {"pattern": pattern},
                field="label_patterns",
            )
    return patterns


def _pseudonym_pattern_clean(value: Any) -> str:
    text = _text("pseudonym_pattern", value)
    if not text:
        return ""
    if len(text) > _PATTERN_MAX:
        raise DomainError(
            "scan_pseudonym_pattern_invalid",
            _("가명 ID 형식은 %(max)d자 이내로 입력해 주세요.") % {"max": _PATTERN_MAX},
            field="pseudonym_pattern",
        )
    try:
        re.compile(text)
    except re.error as error:
        raise DomainError(
            "scan_pseudonym_pattern_invalid",
            _("가명 ID 형식이 올바른 정규식이 아닙니다: %(error)s") % {"error": str(error)},
            field="pseudonym_pattern",
        ) from None
    return text


_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "source_path": _source_path_clean,
    "dicomweb_url": _dicomweb_url_clean,
    "retain_institution_identity": bool,
    "retain_device_identity": bool,
    "private_safe_list": _private_safe_list_clean,
    "label_patterns": _label_patterns_clean,
    "pseudonym_pattern": _pseudonym_pattern_clean,
}


def scan_profile_values_clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """The settings named in ``data``, checked and normalised; the first wrong one raises with its field."""
    unknown = sorted(set(data) - set(PROFILE_FIELDS))
    if unknown:
        raise DomainError(
            "scan_profile_field_unknown",
            _("스캔 설정에 없는 항목입니다: %(fields)s") % {"fields": ", ".join(unknown)},
            field=unknown[0],
        )
    return {name: _CLEANERS[name](data[name]) for name in PROFILE_FIELDS if name in data}


def scan_profile_get_or_create(*, dataset: Dataset) -> ScanProfile:
    profile, _created = ScanProfile.objects.get_or_create(dataset=dataset)
    return profile


@transaction.atomic
def scan_profile_save(
    *, actor: Any, dataset: Dataset, data: Mapping[str, Any], request: HttpRequest | None = None
) -> ScanProfile:
    """Change the settings named in ``data``; the audit event lists each change as [before, after].

    The settings judge the next scan and the de-identification report at once; the dataset's state in the
    catalogue changes only with the next scan.
    """
    scan_manager_require(actor=actor, dataset=dataset)
    values = scan_profile_values_clean(data)
    ScanProfile.objects.get_or_create(dataset=dataset)
    profile = ScanProfile.objects.select_for_update().get(dataset=dataset)
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        before = getattr(profile, name)
        if before != value:
            changes[name] = [before, value]
            setattr(profile, name, value)
    if not changes:
        return profile
    profile.save()
    audit_record(
        action="ingest.scan_profile_saved",
        actor=actor,
        target=profile,
        summary=f"스캔 설정 저장: {dataset.title}",
        data={"dataset": dataset.pk, "changes": changes},
        request=request,
    )
    return profile
