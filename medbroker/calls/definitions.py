"""Calls as data. The 2025 K-Health Daegu call exactly as announced (shared/reference/announcement-2025-ko.txt).

A later call is another definition of the same shape loaded by ``calls.services.calls.call_configure``;
nothing about a call is coded elsewhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from medbroker.core.timeutils import kst

CALL_2025_SLUG = "khealth-daegu-2025"

# Bonus rules (우대사항점수표) and the parameters the announcement leaves open, as settings of the call.
# Read by the review module. Where the announcement leaves a rule open (what "maintained" revenue means,
# whether a certification must be valid on the reference date), the choice is a setting here.
BONUS_RULES_2025: dict[str, Any] = {
    "reference_date": "2025-07-07",
    "window_years": 3,
    "caps": {"objective": 5, "technology": 5, "total": 10},
    "revenue": {
        "group": "objective",
        "current_year": 2024,
        "baseline_years": [2021, 2022, 2023],
        "points": {"increase": 3, "maintained": 2, "decrease": 0},
        "maintained_tolerance_percent": 0,
        "accept_provisional": True,
    },
    "projects": {"group": "objective", "thresholds": [[5, 2], [3, 1]], "otherwise": 0},
    "certifications": {
        "group": "technology",
        "thresholds": [[5, 3], [3, 2]],
        "otherwise": 0,
        "must_be_valid_on_reference_date": True,
    },
    "intellectual_property": {"group": "technology", "thresholds": [[5, 2], [3, 1]], "otherwise": 0},
}

_CERTIFICATIONS_2025: list[tuple[str, int, str, str, list[str]]] = [
    # (category, number, name, description, aliases) — numbering as in the announcement's attachment.
    ("의료기기 인증", 1, "GMP", "의료기기 GMP 심사", ["의료기기 GMP"]),
    ("의료기기 인증", 2, "의료기기 인·허가", "식약처 의료기기 인·허가", ["의료기기 인허가", "MFDS"]),
    ("SW프로세스 인증", 1, "SP", "SW프로세스 인증", ["SP인증"]),
    ("SW프로세스 인증", 2, "TMMi", "SW테스트 프로세스 인증", []),
    ("SW프로세스 인증", 3, "CMMI", "SW프로세스 인증", []),
    ("SW프로세스 인증", 4, "SPICE", "SW프로세스 인증", []),
    ("SW제품 인증 및 기타인증", 1, "GS", "SW제품 인증", ["GS인증"]),
    ("SW제품 인증 및 기타인증", 2, "웹 접근성 품질마크", "웹 사이트 접근성 인증", ["웹접근성 품질마크"]),
    ("SW제품 인증 및 기타인증", 3, "ICT융합 품질인증", "ICT융합 기술/제품인증", []),
    # The announcement writes "IOS9001"; it means ISO 9001 (quality management systems).
    ("SW제품 인증 및 기타인증", 4, "ISO 9001", "품질경영시스템에 대한 인증", ["IOS9001", "ISO9001"]),
    ("SW제품 인증 및 기타인증", 5, "정보보호 제품성능 평가", "정보보호 제품성능 평가", []),
    ("SW제품 인증 및 기타인증", 6, "ISMS-P", "정보보호 및 개인정보 보호 관리체계 인증", ["ISMSP"]),
    ("SW제품 인증 및 기타인증", 7, "CC", "보안적합성 인증", ["CC인증"]),
    ("SW제품 인증 및 기타인증", 8, "ISO/IEC 27001", "정보보안경영시스템", ["ISO/IEC27001", "ISO27001"]),
    (
        "SW제품 인증 및 기타인증",
        9,
        "ISO/IEC 25000",
        "SW품질 관련 국제표준 (KOLAS마크 포함)",
        ["ISO/IEC25000", "KOLAS"],
    ),
    ("SW제품 인증 및 기타인증", 10, "KC인증", "국가통합인증마크", ["KC"]),
    ("SW제품 인증 및 기타인증", 11, "CE인증", "EU 통합규격인증마크", ["CE"]),
    ("SW제품 인증 및 기타인증", 12, "FCC인증", "미국연방통신위원회인증", ["FCC"]),
    ("SW제품 인증 및 기타인증", 13, "NEP", "신제품인증", []),
    ("SW제품 인증 및 기타인증", 14, "NET", "신기술인증", []),
    ("SW제품 인증 및 기타인증", 15, "EPC", "성능인증제품마크", []),
    ("SW제품 인증 및 기타인증", 16, "모바일접근성", "장애인접근성준수", ["모바일 접근성"]),
    ("SW제품 인증 및 기타인증", 17, "KTL마크", "ISO25023기준 소프트웨어 품질인증", []),
    ("SW제품 인증 및 기타인증", 18, "TTA마크", "한국정보통신기술협회인증", []),
    ("SW제품 인증 및 기타인증", 19, "A-SPICE", "차량용 SW개발 프로세스 인증", ["ASPICE"]),
    (
        "SW제품 인증 및 기타인증",
        20,
        "EMV Level2",
        "스마트카드 결제단말기 응용어플리케이션 인증",
        ["EMV Level 2"],
    ),
    ("SW제품 인증 및 기타인증", 21, "POS", "POS단말기 보안기능 시험", []),
    ("SW제품 인증 및 기타인증", 22, "GA", "개방형 앱세서리 시험인증", []),
    ("SW제품 인증 및 기타인증", 23, "TL9000", "정보통신품질경영", ["TL 9000"]),
    ("SW제품 인증 및 기타인증", 24, "IMS", "중소기업 정보화 경영체제 인증", []),
    ("SW제품 인증 및 기타인증", 25, "PMS", "기업경영시스템 역량수준인증", []),
    ("SW제품 인증 및 기타인증", 26, "InnoBiz", "기술혁신형 중소기업인증", ["이노비즈"]),
    ("SW제품 인증 및 기타인증", 27, "MainBiz", "경영혁신형 중소기업인증", ["메인비즈"]),
]

CALL_2025: dict[str, Any] = {
    "title": "「2025년 K-Health 대구 AI 의료생태계 구축 지원사업」 데이터 기반 의료 AI 제품화 종합 기술지원",
    "title_en": "2025 K-Health Daegu AI Medical Ecosystem Support Project — data-based medical AI productization",
    "programme": "AI 의료데이터 활용 지원",
    "agency": "한국산업기술시험원",
    "summary": (
        "병원·기관이 구축한 의료데이터와 컴퓨팅 자원을 의료 AI 기업에 지원합니다. "
        "지원규모는 지원가능 범위 내에서 검토위원회가 기업별로 정하며, 지원금과 기업부담금은 없습니다(현물 지원)."
    ),
    "support_types": [
        {"code": "data", "name": "AI 의료데이터 활용 지원", "name_en": "AI medical-data use"},
        {"code": "compute", "name": "컴퓨팅 자원 활용 지원", "name_en": "Computing-resource use"},
    ],
    "support_scale": "지원가능 범위 내 지원",
    "subsidy": "해당없음",
    "company_contribution": "해당없음",
    "intake_opens_at": kst(2025, 7, 7, 0, 0, 0),
    # "2025. 7. 21.(월) 16:00 까지": the server refuses from 16:00:00 KST on.
    "intake_closes_at": kst(2025, 7, 21, 16, 0, 0),
    "support_ends_on": dt.date(2025, 11, 28),
    "minimum_eligibility": 1,
    # Receipt numbers read KHD2025-0001, KHD2025-0002, … in submission order.
    "receipt_prefix": "KHD2025",
    "contact": [
        {"purpose": "지원사업 문의", "phone": "053-281-0034", "email": "hoyeollee11@ktl.re.kr"},
        {"purpose": "접수 문의", "phone": "053-281-0129", "email": "ghgdpwl@ktl.re.kr"},
    ],
    "eligibility": [
        {
            "number": 1,
            "code": "daegu_company",
            "title": "의료·헬스 관련 제품 및 서비스 기업으로 부가가치세법 제8조에 따라 공고일 기준 대구광역시 내 소재하는 기업",
            "title_en": "A medical/health company located in Daegu (VAT Act art. 8) as of the call date",
            "requirement": "daegu_address",
        },
        {
            "number": 2,
            "code": "relocation",
            "title": "대구광역시 내 본사 및 지사 이전 또는 지사 설립을 확약한 기업",
            "title_en": "A company pledging to move its head office or a branch to Daegu, or to open one there",
            "requirement": "document",
            "document": "relocation_pledge",
        },
        {
            "number": 3,
            "code": "realworld_daegu",
            "title": "대구광역시 소재 의료기관과 실증 예정인 기업",
            "title_en": "A company planning real-world validation with a Daegu medical institution",
            "requirement": "institution",
        },
        {
            "number": 4,
            "code": "platform_use",
            "title": "「의료데이터 중개 플랫폼」을 통해 AI 의료데이터를 활용할 예정인 기업",
            "title_en": "A company that will use AI medical data through the Medical Data Brokerage Platform",
            "requirement": "document",
            "document": "platform_pledge",
        },
    ],
    "documents": [
        {
            "number": 1,
            "code": "application_plan",
            "title": "사업신청서 및 계획서",
            "title_en": "Application form and business plan",
        },
        {
            "number": 2,
            "code": "privacy_consent",
            "title": "개인정보 수집·이용·제공 동의서",
            "title_en": "Consent to collection, use and provision of personal information",
        },
        {
            "number": 3,
            "code": "participation_agreement",
            "title": "사업참여 및 중복지원금지 협약서",
            "title_en": "Agreement on participation and no duplicate support",
        },
        {
            "number": 4,
            "code": "eligibility_confirmation",
            "title": "신청자격 적정성 확인서",
            "title_en": "Confirmation of eligibility",
        },
        {
            "number": 5,
            "code": "relocation_pledge",
            "title": "지역이전 확약서",
            "title_en": "Relocation pledge",
            "condition": "if_criterion",
            "criterion": "relocation",
        },
        {
            "number": 6,
            "code": "platform_pledge",
            "title": "의료데이터 중개 플랫폼 사용 확약서",
            "title_en": "Platform-use pledge",
            "condition": "if_criterion",
            "criterion": "platform_use",
        },
    ],
    "rubric": [
        {
            "code": "org_capability",
            "area": "사업추진 체계",
            "item": "조직 및 운영체계",
            "indicator": "추진 조직 역량 및 의지",
            "max_points": 10,
            "judged": ["기업의 추진의지 및 역량", "총괄책임자의 전문성 및 역량", "조직 및 운영체계 전문성"],
        },
        {
            "code": "execution_capacity",
            "area": "사업추진 체계",
            "item": "조직 및 운영체계",
            "indicator": "사업추진 수행역량",
            "max_points": 5,
            "judged": ["추진기업의 전담인력 확보", "전담인력의 역할분담 적절성"],
        },
        {
            "code": "goal_clarity",
            "area": "사업 내용의 타당성",
            "item": "사업내용",
            "indicator": "사업목표의 명확성",
            "max_points": 15,
            "judged": [
                "사업계획의 충실성",
                "사업목표의 적절성(사업비전 등)",
                "사업 최종목표와 단계별 목표의 적절성",
                "사업 목표수립 근거의 합리성",
            ],
        },
        {
            "code": "contents_strategy",
            "area": "사업 내용의 타당성",
            "item": "사업내용",
            "indicator": "사업내용 및 추진전략",
            "max_points": 10,
            "judged": [
                "사업 추진 단계별 추진 가능성",
                "사업내용의 적절성 및 구체성",
                "사업내용 근거자료의 합리성",
                "사업추진 일정 및 산출물의 타당성",
            ],
        },
        {
            "code": "technical_merit",
            "area": "사업 내용의 타당성",
            "item": "사업기술",
            "indicator": "사업내용의 기술성",
            "max_points": 30,
            "judged": [
                "참여기업의 보유 기술 전문성",
                "기존 기술 및 사업과의 차별성(대체 가능성 및 유사서비스와의 차별성)",
                "상용화 가능성(기술개발 상용화 및 사업화 실적, 개발 결과물의 상용화 시기 및 시장 진입 가능성)",
            ],
        },
        {
            "code": "industry_contribution",
            "area": "기대효과",
            "item": "지역산업 활성화",
            "indicator": "의료산업 공헌도",
            "max_points": 30,
            "judged": [
                "의료산업 활성화를 위한 계획의 적절성(의료산업 생산성 향상, 기술 성과 향상도)",
                "사회적 비용 절감 및 지역사회 공헌도",
            ],
        },
    ],
    "bonus_rules": BONUS_RULES_2025,
    "certifications": [
        {"category": c, "number": n, "name": name, "description": d, "aliases": a}
        for c, n, name, d, a in _CERTIFICATIONS_2025
    ],
    "compute_options": [
        {
            "code": "v100-16",
            "gpu": "V100",
            "gpu_memory_gb": 16,
            "cpu_cores": 128,
            "memory_gb": 120,
            "storage": "1TB(HDD)",
        },
        {
            "code": "v100-32",
            "gpu": "V100",
            "gpu_memory_gb": 32,
            "cpu_cores": 128,
            "memory_gb": 120,
            "storage": "1TB(HDD)",
        },
        {
            "code": "a100-32",
            "gpu": "A100",
            "gpu_memory_gb": 32,
            "cpu_cores": 32,
            "memory_gb": 128,
            "storage": "1TB(HDD)",
        },
    ],
}

# What an applicant fills in each document, for the templates the platform generates (``calls:document_template``).
# The announcement marks documents 1–4 as "(양식 O)" without reproducing the forms; these follow its wording
# (business plan in the order of the rubric, bonus evidence as in the bonus table) so the filled form can be
# reviewed against the published criteria. Keyed by document code, so a later call with the same codes reuses them.
# Each section: (heading, kind, rows) where kind is "fields" (label → blank to fill), "text" (a paragraph to
# read), "checks" (boxes to tick), "table" (column headings, blank rows) or "sign" (date, name and seal).
DOCUMENT_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "application_plan": [
        {
            "heading": "1. 신청기업 현황",
            "kind": "fields",
            "rows": [
                "기업명",
                "사업자등록번호",
                "대표자",
                "본사 주소(사업장 소재지)",
                "설립일",
                "상시 근로자 수",
                "주요 제품·서비스",
                "담당자 성명·직위",
                "담당자 전화·이메일",
            ],
        },
        {"heading": "2. 신청 자격(해당 항목에 모두 표시)", "kind": "eligibility"},
        {
            "heading": "3. 신청 데이터",
            "kind": "table",
            "columns": ["데이터셋(부위·모달리티)", "희망 건수", "Annotation 필요 여부", "활용 목적"],
            "blank_rows": 4,
        },
        {
            "heading": "4. 희망 컴퓨팅 자원(GPU 1기)",
            "kind": "compute",
        },
        {
            "heading": "5. 사업계획",
            "kind": "fields",
            "rows": [
                "과제명",
                "사업 개요",
                "추진 조직 및 역량(총괄책임자의 전문성 포함)",
                "전담인력 확보 및 역할분담",
                "사업 목표(최종 목표 및 단계별 목표, 목표 수립 근거)",
                "사업 내용 및 추진 전략(단계별 추진 계획, 일정, 산출물)",
                "보유 기술 및 차별성, 상용화 계획",
                "기대효과(의료산업 활성화, 사회적 비용 절감, 지역사회 공헌)",
            ],
            "tall": True,
        },
        {
            "heading": "6. 우대사항 증빙",
            "kind": "table",
            "columns": ["구분", "내용(연도·과제번호·인증명·등록번호 등)", "증빙 서류"],
            "prefill": [
                ["매출액('21~'24년)", "", "재무제표(가결산 포함)"],
                ["정부과제·자체기술개발(최근 3년)", "", "협약서 등"],
                ["기술 및 품질 인증", "", "인증서 사본"],
                ["지식재산권(최근 3년)", "", "등록증 사본"],
            ],
        },
        {"heading": "", "kind": "sign", "text": "위와 같이 지원사업에 신청합니다."},
    ],
    "privacy_consent": [
        {
            "heading": "1. 수집·이용 목적",
            "kind": "text",
            "text": "지원사업 신청 접수, 신청자격 확인, 선정 평가, 협약 체결 및 사후관리, 성과 보고",
        },
        {
            "heading": "2. 수집 항목",
            "kind": "text",
            "text": "대표자 및 담당자의 성명, 소속, 직위, 전화번호, 이메일, 사업자등록번호, 사업장 주소",
        },
        {
            "heading": "3. 보유·이용 기간",
            "kind": "text",
            "text": "지원사업 종료 후 5년(관계 법령에 따라 보존할 필요가 있는 경우 그 기간)",
        },
        {
            "heading": "4. 제3자 제공",
            "kind": "text",
            "text": "선정 평가를 위한 검토위원회 위원, 지원사업 관리기관(평가 및 사후관리 목적에 한함)",
        },
        {
            "heading": "5. 동의 여부",
            "kind": "checks",
            "rows": [
                "개인정보 수집·이용에 동의합니다.  □ 동의함  □ 동의하지 않음",
                "개인정보 제3자 제공에 동의합니다.  □ 동의함  □ 동의하지 않음",
            ],
            "note": "동의를 거부할 권리가 있으나, 거부 시 지원사업 신청이 제한될 수 있습니다.",
        },
        {"heading": "", "kind": "sign", "text": "본인은 위 내용을 확인하고 동의합니다."},
    ],
    "participation_agreement": [
        {
            "heading": "1. 사업 참여",
            "kind": "text",
            "text": (
                "신청기업은 지원기관이 제공하는 AI 의료데이터와 컴퓨팅 자원을 협약에서 정한 목적과 범위 안에서만 "
                "활용하며, 데이터는 폐쇄학습실 등 지원기관이 정한 보안 환경에서 이용합니다."
            ),
        },
        {
            "heading": "2. 중복지원 금지",
            "kind": "text",
            "text": (
                "신청기업은 동일한 내용으로 다른 국가·지방자치단체 지원사업의 지원을 받고 있지 않으며, "
                "중복 지원이 확인되면 선정 취소 및 지원 중단에 동의합니다."
            ),
        },
        {
            "heading": "3. 성과 보고",
            "kind": "text",
            "text": "지원기간 종료 후 데이터 및 컴퓨팅 자원 활용에 대한 성과보고서를 작성하여 제출합니다.",
        },
        {
            "heading": "4. 현재 수행 중인 유사 지원사업",
            "kind": "table",
            "columns": ["사업명", "지원기관", "지원기간", "지원 내용"],
            "blank_rows": 3,
        },
        {"heading": "", "kind": "sign", "text": "위 사항을 확인하고 성실히 이행할 것을 협약합니다."},
    ],
    "eligibility_confirmation": [
        {"heading": "1. 해당 신청 자격(1개 이상)", "kind": "eligibility"},
        {
            "heading": "2. 확인 내용",
            "kind": "fields",
            "rows": [
                "사업자등록증상 사업장 소재지(① 해당 시)",
                "이전·설립 예정 주소 및 시기(② 해당 시)",
                "실증 예정 의료기관 및 실증 내용(③ 해당 시)",
                "플랫폼 활용 예정 데이터(④ 해당 시)",
            ],
        },
        {
            "heading": "3. 첨부 증빙",
            "kind": "checks",
            "rows": [
                "사업자등록증 사본",
                "지역이전 확약서(②)",
                "실증 협의 증빙(③)",
                "의료데이터 중개 플랫폼 사용 확약서(④)",
            ],
        },
        {"heading": "", "kind": "sign", "text": "위 기재 내용이 사실과 다름없음을 확인합니다."},
    ],
    "relocation_pledge": [
        {
            "heading": "1. 이전·설립 계획",
            "kind": "fields",
            "rows": [
                "현재 본사 주소",
                "구분(본사 이전 / 지사 이전 / 지사 설립)",
                "대구광역시 내 이전·설립 예정 주소",
                "이전·설립 예정일",
                "이전·설립 후 상시 근로자 수(예정)",
            ],
        },
        {
            "heading": "2. 확약",
            "kind": "text",
            "text": (
                "신청기업은 위 계획에 따라 대구광역시 내로 본사 또는 지사를 이전하거나 지사를 설립할 것을 확약하며, "
                "이행하지 않을 경우 지원 취소 등 지원기관의 조치에 따릅니다."
            ),
        },
        {"heading": "", "kind": "sign", "text": "위와 같이 확약합니다."},
    ],
    "platform_pledge": [
        {
            "heading": "1. 활용 예정 데이터",
            "kind": "table",
            "columns": ["데이터셋(부위·모달리티)", "보유기관", "활용 목적"],
            "blank_rows": 4,
        },
        {
            "heading": "2. 준수 사항",
            "kind": "checks",
            "rows": [
                "데이터는 「의료데이터 중개 플랫폼」과 지원기관이 정한 보안 환경에서만 활용합니다.",
                "재식별 시도, 외부 반출, 목적 외 이용을 하지 않습니다.",
                "플랫폼 계정과 2단계 인증 수단을 타인과 공유하지 않습니다.",
                "활용 결과를 성과보고서로 제출합니다.",
            ],
        },
        {
            "heading": "",
            "kind": "sign",
            "text": "위 사항을 준수하여 「의료데이터 중개 플랫폼」을 사용할 것을 확약합니다.",
        },
    ],
}

# A page in the template for a document that has no entry above (a later call's extra document).
DOCUMENT_TEMPLATE_DEFAULT: list[dict[str, Any]] = [
    {
        "heading": "1. 신청기업",
        "kind": "fields",
        "rows": ["기업명", "사업자등록번호", "대표자", "담당자·연락처"],
    },
    {"heading": "2. 내용", "kind": "fields", "rows": ["기재 내용"], "tall": True},
    {"heading": "", "kind": "sign", "text": "위 내용이 사실과 다름없음을 확인합니다."},
]
