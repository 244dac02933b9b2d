"""The de-identification audit: which facts of a file are findings under a dataset's policy.

The rules follow DICOM PS3.15 Annex E, the Basic Application Level Confidentiality Profile: attributes it
says to remove (X) or to empty (Z) must not carry a value; private attributes go unless the dataset keeps
them under the Retain Safe Private Option; institution and device identity may stay under their retain
options; ``PatientIdentityRemoved`` must say YES; images that may show text burned into the pixels
(``BurnedInAnnotation`` YES, secondary capture, screen saves, ultrasound and endoscopy frames) are a risk a
person must look at. Dates of study and acquisition are kept (the Retain Longitudinal Temporal Information
Option), since the key information shows the date range; the birth date is always a finding. UIDs are not
judged: Annex E replaces them with new ones, which no header can tell apart from the originals.

For EDF+ the patient and recording fields have named subfields (EDF+ specification §2.1.3): a name, birth
date or administration code other than ``X`` is a finding. A plain EDF patient field must be empty or ``X``.
WFDB header comments may carry only the keys a research record needs (age, sex, diagnosis…).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import regex
from django.utils.translation import gettext_lazy as _

from medbroker.ingest.scanner.records import FileKind, FileRecord

# Annex E attributes the audit checks, by DICOM keyword: a value present is a finding. The group decides
# which retain option lets it stay ("" = none).
PATIENT_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientBirthName",
    "PatientMotherBirthName",
    "OtherPatientIDs",
    "OtherPatientNames",
    "OtherPatientIDsSequence",
    "IssuerOfPatientID",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "MedicalRecordLocator",
    "MilitaryRank",
    "BranchOfService",
    "CountryOfResidence",
    "RegionOfResidence",
    "PatientReligiousPreference",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "PatientInsurancePlanCodeSequence",
    "ReferencedPatientSequence",
    "AdmissionID",
    "AdmittingDiagnosesDescription",
    "CurrentPatientLocation",
    "PatientInstitutionResidence",
)
STAFF_KEYWORDS: tuple[str, ...] = (
    "AccessionNumber",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "RequestingPhysician",
    "ScheduledPerformingPhysicianName",
    "RequestAttributesSequence",
    "ContentCreatorName",
    "VerifyingObserverName",
    "PersonName",
)
COMMENT_KEYWORDS: tuple[str, ...] = (
    "ImageComments",
    "StudyComments",
    "AcquisitionComments",
    "RequestedProcedureComments",
    "InterpretationText",
    "TextComments",
)
INSTITUTION_KEYWORDS: tuple[str, ...] = (
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionCodeSequence",
)
DEVICE_KEYWORDS: tuple[str, ...] = (
    "StationName",
    "DeviceSerialNumber",
    "DetectorID",
    "GantryID",
    "CassetteID",
    "PlateID",
)
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    *PATIENT_KEYWORDS,
    *STAFF_KEYWORDS,
    *COMMENT_KEYWORDS,
    *INSTITUTION_KEYWORDS,
    *DEVICE_KEYWORDS,
)
_INSTITUTION = frozenset(INSTITUTION_KEYWORDS)
_DEVICE = frozenset(DEVICE_KEYWORDS)

# SOP classes whose pixels are often screen captures with text: the Secondary Capture family.
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
# Modalities whose frames commonly carry burned-in text (ultrasound calipers, endoscopy overlays).
BURNED_IN_MODALITIES = frozenset({"US", "ES", "XC", "GM", "OP"})

# Korean resident registration numbers (YYMMDD-SNNNNNN) and telephone numbers found anywhere in a header's
# text: the commonest identifiers typed into free-text fields by hand. Digits next to a dot or another digit
# are part of a UID or a number, not an identifier.
RESIDENT_NUMBER_PATTERN = rb"(?<![\d.])\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])-?[1-8]\d{6}(?![\d.])"
PHONE_PATTERN = rb"(?<![\d.])0\d{1,2}-\d{3,4}-\d{4}(?![\d.])"
TEXT_PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("text.resident_number", re.compile(RESIDENT_NUMBER_PATTERN)),
    ("text.phone", re.compile(PHONE_PATTERN)),
)
# Both identifiers are runs of ten or more digits and hyphens, with no dot (a dot makes them part of a UID
# or a decimal). Cutting the header into such runs with ``bytes.translate`` and ``split`` (C loops) and trying
# the exact patterns on the few runs left is several times faster than the exact patterns over the whole
# header, whose look-behinds defeat the regular-expression engine's fast scan.
_RUN_BYTES = frozenset(b"0123456789-.")
_RUN_TABLE = bytes(code if code in _RUN_BYTES else 0x20 for code in range(256))


def text_findings(data: bytes) -> tuple[str, ...]:
    """Codes of the identifier patterns found in ``data`` (a header's bytes or a text field)."""
    found: list[str] = []
    for run in data.translate(_RUN_TABLE).split():
        if len(run) < 10 or b"." in run:
            continue
        for code, pattern in TEXT_PATTERNS:
            if code not in found and pattern.search(run):
                found.append(code)
    return tuple(code for code, _pattern in TEXT_PATTERNS if code in found)


_LABELS: dict[str, Any] = {
    "PatientID.pseudonym": _("환자 ID가 가명 ID 형식과 맞지 않음"),
    "PatientIdentityRemoved": _("PatientIdentityRemoved가 YES가 아님"),
    "BurnedInAnnotation": _("영상에 글자가 새겨져 있음(BurnedInAnnotation YES)"),
    "burned_in_risk": _("영상에 글자가 새겨졌을 위험(초음파·내시경·화면 캡처·SAVE 영상)"),
    "private": _("허용 목록에 없는 비공개(private) 태그"),
    "text.resident_number": _("주민등록번호 형식의 값"),
    "text.phone": _("전화번호 형식의 값"),
    "edf.patient_name": _("EDF+ 환자 이름"),
    "edf.patient_birthdate": _("EDF+ 환자 생년월일"),
    "edf.patient_additional": _("EDF+ 환자 필드의 추가 정보"),
    "edf.patient": _("EDF 환자 식별 필드"),
    "edf.recording_admin": _("EDF+ 기록의 병원 관리 코드"),
    "edf.recording_technician": _("EDF+ 기록의 검사자 이름"),
    "wfdb.comments": _("WFDB 헤더 주석의 자유 기재 내용"),
    "unreadable": _("읽지 못해 점검하지 못한 파일"),
}


def finding_label(code: str) -> str:
    """A Korean description of a finding code (the DICOM keyword itself for Annex E attributes)."""
    if code in _LABELS:
        return str(_LABELS[code])
    if code in _INSTITUTION:
        return str(_("기관 정보: %(keyword)s") % {"keyword": code})
    if code in _DEVICE:
        return str(_("장비 정보: %(keyword)s") % {"keyword": code})
    return str(_("식별 정보가 담긴 속성: %(keyword)s") % {"keyword": code})


_PRIVATE_KEY = re.compile(r"^([0-9A-Fa-f]{4}),[xX]{2}([0-9A-Fa-f]{2})@(.+)$")


def private_key_normalise(value: str) -> str:
    """ "0019,XX10@ Creator " → "0019,xx10@Creator": hex upper-case, creator stripped."""
    match = _PRIVATE_KEY.match(value.strip())
    if not match:
        return value.strip()
    group, element, creator = match.groups()
    return f"{group.upper()},xx{element.upper()}@{creator.strip()}"


@dataclass(frozen=True)
class DeidPolicy:
    retain_institution_identity: bool = False
    retain_device_identity: bool = False
    private_safe_list: frozenset[str] = field(default_factory=frozenset)
    pseudonym_pattern: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "private_safe_list", frozenset(private_key_normalise(key) for key in self.private_safe_list)
        )


def policy_from_profile(profile: Any) -> DeidPolicy:
    """The policy of a ``ScanProfile`` (or anything with its field names); None gives the strict default."""
    if profile is None:
        return DeidPolicy()
    return DeidPolicy(
        retain_institution_identity=bool(profile.retain_institution_identity),
        retain_device_identity=bool(profile.retain_device_identity),
        private_safe_list=frozenset(profile.private_safe_list or ()),
        pseudonym_pattern=profile.pseudonym_pattern or "",
    )


# A pattern a steward typed runs against every patient ID: the ``regex`` package's timeout bounds a pattern
# that backtracks catastrophically, where the standard ``re`` would hang the scan.
PSEUDONYM_TIMEOUT_S = 0.05


@lru_cache(maxsize=64)
def _pseudonym_regex(pattern: str) -> Any:
    return regex.compile(pattern)


def pseudonym_matches(pattern: str, patient_id: str) -> bool:
    """Whether ``patient_id`` is in the pseudonym form; an ID the pattern cannot judge in time is not."""
    try:
        return _pseudonym_regex(pattern).fullmatch(patient_id, timeout=PSEUDONYM_TIMEOUT_S) is not None
    except (TimeoutError, regex.error):
        return False


def _burned_in_risk(record: FileRecord) -> bool:
    if record.burned_in_annotation == "NO":
        # The modality declared the pixels free of text: a person checked, or the device knows.
        return False
    if record.sop_class_uid.startswith(SECONDARY_CAPTURE_PREFIX):
        return True
    if "SAVE" in record.image_type:
        return True
    return record.modality in BURNED_IN_MODALITIES


def record_findings(record: FileRecord, policy: DeidPolicy) -> list[str]:
    """The finding codes of one file under ``policy``, in a stable order."""
    codes: list[str] = []
    for keyword in record.identifying:
        if keyword in _INSTITUTION and policy.retain_institution_identity:
            continue
        if keyword in _DEVICE and policy.retain_device_identity:
            continue
        codes.append(keyword)
    if record.kind == FileKind.DICOM:
        if record.identity_removed != "YES":
            codes.append("PatientIdentityRemoved")
        if record.burned_in_annotation == "YES":
            codes.append("BurnedInAnnotation")
        elif _burned_in_risk(record):
            codes.append("burned_in_risk")
        if any(key not in policy.private_safe_list for key in record.private_tags):
            codes.append("private")
    if (
        policy.pseudonym_pattern
        and record.patient_id
        and record.kind in (FileKind.DICOM, FileKind.EDF)
        and not pseudonym_matches(policy.pseudonym_pattern, record.patient_id)
    ):
        codes.append("PatientID.pseudonym")
    return codes
