"""Writes of a dataset's scan settings: where its files are and which options of PS3.15 Annex E it keeps.

A steward types a folder path into a page and the server then reads that folder, so a path is accepted only
inside one of ``settings.MEDBROKER_SCAN_ROOTS``, judged after resolving symbolic links and ``..``, and for a
data steward only inside the folder an operator assigned to their institution (``Institution.scan_folder``):
otherwise a steward could make the server read its own configuration or another institution's data. A
DICOMweb address is fetched by the server too: a steward may name only the PACS servers the operators
listed (``settings.MEDBROKER_DICOMWEB_HOSTS``), so that the address cannot reach services inside the lab's
network. The pseudonym pattern is a regular expression run on every patient ID: one that backtracks
without end is refused before it is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import regex
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Role
from medbroker.audit.services import audit_record
from medbroker.catalog.models import Dataset, Institution
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
PSEUDONYM_PATTERN_MAX = 100
# Subjects a pseudonym pattern is tried on before it is saved, each a long run of one kind of character and
# a last one that fails the match: a pattern with nested repetition ("(A|AA)+") backtracks on them for
# longer than the limit, where a sound pattern answers in microseconds.
PSEUDONYM_PROBES = ("A" * 64 + "!", "a" * 64 + "!", "0" * 64 + "!")
PSEUDONYM_PROBE_TIMEOUT_S = 0.05


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


def _is_inside(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def inside_scan_roots(folder: str | Path) -> bool:
    """Whether ``folder``, links and ``..`` resolved, lies inside one of the allowed data roots."""
    return _is_inside(Path(folder).resolve(), scan_roots())


def _is_operator(actor: Any) -> bool:
    return bool(actor is not None and actor.has_role(Role.OPERATOR))


def institution_scan_folder(*, institution: Institution, field: str = "source_path") -> Path:
    """The institution's assigned folder, resolved; an error when none is assigned or it lies outside the
    roots (the roots may have been narrowed after the operator assigned it)."""
    assigned = (institution.scan_folder or "").strip()
    if not assigned:
        raise DomainError(
            "scan_folder_unassigned",
            _(
                "이 기관의 데이터 보관 폴더가 아직 지정되지 않았습니다. "
                "시험원 운영자에게 데이터 보관 폴더를 지정해 달라고 요청해 주세요."
            ),
            field=field,
        )
    try:
        folder = Path(assigned).resolve()
    except (OSError, RuntimeError):
        folder = None
    if folder is None or not folder.is_absolute() or not _is_inside(folder, scan_roots()):
        raise DomainError(
            "scan_folder_outside_roots",
            _(
                "이 기관의 데이터 보관 폴더가 허용된 데이터 보관 위치 밖에 있습니다. 시험원 운영자에게 문의해 주세요."
            ),
            field=field,
        )
    return folder


def scan_folders_allowed(*, actor: Any, institution: Institution, field: str = "source_path") -> list[Path]:
    """The folders ``actor`` may scan for ``institution``: every root for an operator and for the server's
    own callers (``actor`` None: the command line, the demo), the institution's assigned folder for its
    data stewards."""
    if actor is None or _is_operator(actor):
        return scan_roots()
    return [institution_scan_folder(institution=institution, field=field)]


def scan_folder_check(
    value: str, *, actor: Any = None, institution: Institution | None = None, field: str = "source_path"
) -> str:
    """The folder ``value`` resolved, when it is an existing folder that ``actor`` may scan; else an error.

    Every folder must lie inside an allowed root; a data steward's (``actor`` not an operator, with the
    dataset's ``institution``) also inside the folder assigned to their institution. Resolution follows
    symbolic links and ``..``, so ``<root>/../etc`` and a link inside a root that points outside it are both
    refused. The resolved path is what is stored and scanned, so swapping a link after the check does not
    move the scan elsewhere.
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
    if not _is_inside(resolved, scan_roots()):
        raise DomainError(
            "scan_path_outside_roots",
            _("허용된 데이터 보관 위치 밖의 폴더입니다. 허용된 위치: %(roots)s")
            % {"roots": ", ".join(settings.MEDBROKER_SCAN_ROOTS)},
            field=field,
        )
    if actor is not None and not _is_operator(actor):
        if institution is None:
            raise ValueError("a steward's folder is judged against the dataset's institution")
        folder = institution_scan_folder(institution=institution, field=field)
        if not _is_inside(resolved, [folder]):
            raise DomainError(
                "scan_path_outside_institution_folder",
                _("이 기관의 데이터 보관 폴더 밖의 폴더입니다. 이 기관의 데이터 보관 폴더: %(folder)s")
                % {"folder": str(folder)},
                field=field,
            )
    if not resolved.is_dir():
        raise DomainError("scan_path_not_found", _("데이터 폴더가 없거나 폴더가 아닙니다."), field=field)
    return str(resolved)


def _dicomweb_url_parts(value: str, field: str) -> SplitResult:
    invalid = DomainError(
        "scan_dicomweb_url_invalid",
        _("DICOMweb 주소는 http:// 또는 https://로 시작하는 주소여야 합니다."),
        field=field,
    )
    try:
        parts = urlsplit(value)
        # ``port`` raises for a port that is not a number or out of range.
        port_valid = parts.port is None or parts.port > 0
    except ValueError:
        raise invalid from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_valid or len(value) > _URL_MAX:
        raise invalid
    if "@" in parts.netloc:
        # A password in the address would be stored, shown on the page and copied into the audit log in clear.
        raise DomainError(
            "scan_dicomweb_url_credentials",
            _("DICOMweb 주소에는 사용자 이름이나 비밀번호를 넣을 수 없습니다."),
            field=field,
        )
    return parts


def _dicomweb_host_listed(parts: SplitResult) -> bool:
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for entry in settings.MEDBROKER_DICOMWEB_HOSTS:
        allowed = urlsplit("//" + entry.strip().lower())
        try:
            allowed_port = allowed.port
        except ValueError:
            continue
        if allowed.hostname == host and allowed_port in (None, port):
            return True
    return False


def dicomweb_url_check(value: str, *, actor: Any = None, field: str = "dicomweb_url") -> str:
    """The DICOMweb address ``value`` (trailing "/" dropped) when ``actor`` may have the server fetch it.

    Operators and the server's own callers (``actor`` None) may name any http(s) server; anyone else only
    a host of ``settings.MEDBROKER_DICOMWEB_HOSTS``.
    """
    parts = _dicomweb_url_parts(value, field)
    if actor is not None and not _is_operator(actor) and not _dicomweb_host_listed(parts):
        if not settings.MEDBROKER_DICOMWEB_HOSTS:
            raise DomainError(
                "scan_dicomweb_host_not_allowed",
                _("DICOMweb 주소는 시험원 운영자만 지정할 수 있습니다. 운영자에게 요청해 주세요."),
                field=field,
            )
        raise DomainError(
            "scan_dicomweb_host_not_allowed",
            _("허용되지 않은 DICOMweb 서버입니다. 허용된 서버: %(hosts)s")
            % {"hosts": ", ".join(settings.MEDBROKER_DICOMWEB_HOSTS)},
            field=field,
        )
    return value.rstrip("/")


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
    return dicomweb_url_check(text)


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
    if len(text) > PSEUDONYM_PATTERN_MAX:
        raise DomainError(
            "scan_pseudonym_pattern_invalid",
            _("가명 ID 형식은 %(max)d자 이내로 입력해 주세요.") % {"max": PSEUDONYM_PATTERN_MAX},
            field="pseudonym_pattern",
        )
    try:
        compiled = regex.compile(text)
    except regex.error as error:
        raise DomainError(
            "scan_pseudonym_pattern_invalid",
            _("가명 ID 형식이 올바른 정규식이 아닙니다: %(error)s") % {"error": str(error)},
            field="pseudonym_pattern",
        ) from None
    try:
        for probe in PSEUDONYM_PROBES:
            compiled.fullmatch(probe, timeout=PSEUDONYM_PROBE_TIMEOUT_S)
    except TimeoutError:
        raise DomainError(
            "scan_pseudonym_pattern_too_complex",
            _(
                "가명 ID 형식이 너무 복잡합니다. 반복 안에 다시 반복이 있는 형식(예: (A|AA)+)은 확인에 시간이 "
                "지나치게 오래 걸릴 수 있으니 더 단순한 형식으로 입력해 주세요(예: KTL-[0-9]{6})."
            ),
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


def _where_check(*, actor: Any, dataset: Dataset, name: str, value: Any) -> None:
    """Whether ``actor`` may point the dataset at this folder or PACS (the checks that depend on who asks)."""
    if not value:
        return
    if name == "source_path":
        scan_folder_check(value, actor=actor, institution=dataset.institution)
    elif name == "dicomweb_url":
        dicomweb_url_check(value, actor=actor)


@transaction.atomic
def scan_profile_save(
    *, actor: Any, dataset: Dataset, data: Mapping[str, Any], request: HttpRequest | None = None
) -> ScanProfile:
    """Change the settings named in ``data``; the audit event lists each change as [before, after].

    The settings judge the next scan and the de-identification report at once; the dataset's state in the
    catalogue changes only with the next scan. Who may use a folder or PACS is judged for a changed one
    only: a steward saving the page again keeps a folder or address an operator set, and ``scan_start``
    judges it again for whoever starts the scan.
    """
    scan_manager_require(actor=actor, dataset=dataset)
    values = scan_profile_values_clean(data)
    ScanProfile.objects.get_or_create(dataset=dataset)
    profile = ScanProfile.objects.select_for_update().get(dataset=dataset)
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        before = getattr(profile, name)
        if before != value:
            _where_check(actor=actor, dataset=dataset, name=name, value=value)
            changes[name] = [before, value]
    if not changes:
        return profile
    for name, (_before, value) in changes.items():
        setattr(profile, name, value)
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
