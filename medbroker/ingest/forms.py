"""Forms of the ingest pages. They only read the input; the services check paths, patterns and rights."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from medbroker.catalog.services import DEIDENTIFICATION_OVERRIDE_REASON_MAX
from medbroker.core.forms import KrdsFormMixin
from medbroker.ingest.models import ScanProfile, ScanSource
from medbroker.ingest.services.profiles import PSEUDONYM_PATTERN_MAX


def _lines(value: Any) -> list[str]:
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


class ScanProfileForm(KrdsFormMixin, forms.Form):
    source_path = forms.CharField(
        label=_("데이터 폴더"),
        required=False,
        max_length=500,
        help_text=_(
            "서버에서 데이터가 있는 폴더의 절대 경로입니다(예: /srv/medbroker/datasets/colon-ct). "
            "기관의 데이터 관리자는 운영자가 기관에 지정한 데이터 보관 폴더 안, 운영자는 허용된 데이터 보관 위치 안이어야 "
            "하며, 하위 폴더까지 모두 읽습니다."
        ),
    )
    # A plain text field: the service says what is wrong with an address, in the same words as the API.
    dicomweb_url = forms.CharField(
        label=_("DICOMweb 주소"),
        required=False,
        max_length=500,
        help_text=_(
            "PACS의 QIDO-RS 기본 주소입니다(예: https://pacs.example.kr/dicom-web). 기관의 데이터 관리자는 운영자가 "
            "허용한 서버만 쓸 수 있고, 주소에 사용자 이름이나 비밀번호를 넣을 수 없습니다. 비워 두면 폴더만 스캔합니다."
        ),
    )
    retain_institution_identity = forms.BooleanField(
        label=_("기관 정보 유지"),
        required=False,
        help_text=_(
            "DICOM PS3.15 부록 E의 Retain Institution Identity 옵션: 기관명·기관 주소를 발견 사항으로 보지 않습니다."
        ),
    )
    retain_device_identity = forms.BooleanField(
        label=_("장비 정보 유지"),
        required=False,
        help_text=_(
            "Retain Device Identity 옵션: 장비 이름(Station Name)과 장비 일련번호를 발견 사항으로 보지 않습니다."
        ),
    )
    private_safe_list = forms.CharField(
        label=_("허용 비공개 태그"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Retain Safe Private 옵션: 환자 정보가 없다고 확인한 비공개 태그를 한 줄에 하나씩 "
            "'그룹,xx요소@생성자' 형식으로 적습니다. 예: 0019,xx10@GEMS_ACQU_01"
        ),
    )
    label_patterns = forms.CharField(
        label=_("라벨 파일 패턴"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Annotation 파일의 이름 패턴을 한 줄에 하나씩 적습니다(예: *.label.json, *_mask.nii.gz). "
            "이런 파일이 있는 검사는 Annotation 건으로 셉니다. SEG·RTSTRUCT·SR 객체는 따로 적지 않아도 됩니다."
        ),
    )
    pseudonym_pattern = forms.CharField(
        label=_("가명 ID 형식(정규식)"),
        required=False,
        max_length=PSEUDONYM_PATTERN_MAX,
        help_text=_(
            "모든 환자 ID가 맞아야 하는 가명 규칙입니다(예: KTL-[0-9]{6}). 맞지 않는 ID는 발견 사항으로 표시합니다. "
            "비워 두면 확인하지 않습니다."
        ),
    )

    @classmethod
    def for_profile(cls, profile: ScanProfile) -> ScanProfileForm:
        return cls(
            initial={
                "source_path": profile.source_path,
                "dicomweb_url": profile.dicomweb_url,
                "retain_institution_identity": profile.retain_institution_identity,
                "retain_device_identity": profile.retain_device_identity,
                "private_safe_list": "\n".join(profile.private_safe_list or []),
                "label_patterns": "\n".join(profile.label_patterns or []),
                "pseudonym_pattern": profile.pseudonym_pattern,
            }
        )

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "source_path": data["source_path"],
            "dicomweb_url": data["dicomweb_url"],
            "retain_institution_identity": data["retain_institution_identity"],
            "retain_device_identity": data["retain_device_identity"],
            "private_safe_list": _lines(data["private_safe_list"]),
            "label_patterns": _lines(data["label_patterns"]),
            "pseudonym_pattern": data["pseudonym_pattern"],
        }


class ScanStartForm(forms.Form):
    source = forms.ChoiceField(choices=ScanSource.choices)


class DeidentificationOverrideForm(KrdsFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("공개 허용 사유"),
        max_length=DEIDENTIFICATION_OVERRIDE_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "발견 사항이 있어도 공개해도 되는 까닭을 적습니다(예: 표시된 비공개 태그는 장비 보정값이며 환자 정보가 아님). "
            "사유는 감사 기록에 남고, 다음 스캔에서 발견 사항이 나오면 다시 결정해야 합니다."
        ),
        error_messages={"required": _("공개 허용 사유를 입력해 주세요.")},
    )
