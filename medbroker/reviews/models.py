"""Step ③ of the call: the review committee, conflicts of interest, score sheets, evidence verification,
and the selection decision with its support scale."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import Organisation
from medbroker.calls.models import Application, ApplicationDataset, Call, ComputeOption, RubricItem
from medbroker.core.models import TimeStampedModel


class Committee(TimeStampedModel):
    """The review committee of one call, with the call's review settings."""

    class Status(models.TextChoices):
        OPEN = "open", _("평가 진행")
        CLOSED = "closed", _("평가 종료")

    class Scale(models.TextChoices):
        POINTS = "points", _("점수 직접 입력(0~배점)")
        # 5 grades map to 100/80/60/40/20 % of the item's points.
        FIVE_GRADES = "five_grades", _("5등급(100·80·60·40·20%)")

    class Aggregation(models.TextChoices):
        MEAN = "mean", _("평균")
        # Drop one highest and one lowest total when at least `trim_min_reviewers` reviewers scored.
        TRIMMED_MEAN = "trimmed_mean", _("최고·최저 1개씩 제외한 평균")

    class CutoffBasis(models.TextChoices):
        REVIEW = "review", _("서면평가 점수(우대사항 제외)")
        TOTAL = "total", _("우대사항 포함 총점")

    call = models.OneToOneField(
        Call, verbose_name=_("공모"), on_delete=models.PROTECT, related_name="committee"
    )
    name = models.CharField(_("위원회 이름"), max_length=200)
    status = models.CharField(_("상태"), max_length=20, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(_("종료 시각"), null=True, blank=True)
    scale = models.CharField(_("채점 방식"), max_length=20, choices=Scale.choices, default=Scale.POINTS)
    aggregation = models.CharField(
        _("점수 집계"), max_length=20, choices=Aggregation.choices, default=Aggregation.MEAN
    )
    trim_min_reviewers = models.PositiveSmallIntegerField(_("최고·최저 제외 최소 위원 수"), default=5)
    cutoff_score = models.DecimalField(_("선정 기준 점수"), max_digits=5, decimal_places=2, default=60)
    cutoff_basis = models.CharField(
        _("기준 점수 적용 대상"), max_length=20, choices=CutoffBasis.choices, default=CutoffBasis.REVIEW
    )
    # Ordered tie-breaks after the final score; each a key the ranking service knows:
    # "item_mean:<rubric code>" (higher first) and "untrimmed_total" (higher first).
    tie_breaks = models.JSONField(
        _("동점 처리 순서"),
        default=list,
        blank=True,
        help_text=_('예: ["item_mean:technical_merit", "untrimmed_total"]'),
    )
    # A reviewer whose mean total sits further than this many points from the panel's is flagged to the chair.
    outlier_threshold = models.DecimalField(
        _("편차 경고 기준(점)"), max_digits=5, decimal_places=2, default=15
    )

    class Meta:
        verbose_name = _("평가위원회")
        verbose_name_plural = _("평가위원회")

    def __str__(self) -> str:
        return self.name


class CommitteeMember(models.Model):
    committee = models.ForeignKey(Committee, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("위원"),
        on_delete=models.PROTECT,
        related_name="committee_seats",
    )
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("소속"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    expertise = models.CharField(_("전문 분야"), max_length=200, blank=True)
    is_chair = models.BooleanField(_("위원장"), default=False)
    # Companies the member declared a relation with (employment, advice, shares…): automatic exclusion (제척).
    declared_relations = models.ManyToManyField(
        Organisation, verbose_name=_("이해관계 신고 기업"), blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("평가위원")
        verbose_name_plural = _("평가위원")
        constraints = [models.UniqueConstraint(fields=["committee", "user"], name="committee_member_unique")]

    def __str__(self) -> str:
        return str(self.user)


class Conflict(models.Model):
    """A conflict of interest between a member and an application, in the three Korean forms."""

    class Kind(models.TextChoices):
        EXCLUSION = "exclusion", _("제척")  # automatic: same organisation or declared relation
        RECUSAL = "recusal", _("회피")  # the member steps aside
        CHALLENGE = "challenge", _("기피")  # the company asks; an operator decides

    class Status(models.TextChoices):
        PENDING = "pending", _("결정 대기")
        UPHELD = "upheld", _("인정")
        REJECTED = "rejected", _("기각")

    member = models.ForeignKey(CommitteeMember, on_delete=models.CASCADE, related_name="conflicts")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="review_conflicts")
    kind = models.CharField(_("구분"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("상태"), max_length=20, choices=Status.choices, default=Status.UPHELD)
    reason = models.TextField(_("사유"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(_("결정 사유"), blank=True)
    created_at = models.DateTimeField(_("신청 시각"), auto_now_add=True)
    decided_at = models.DateTimeField(_("결정 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("이해충돌")
        verbose_name_plural = _("이해충돌")
        constraints = [
            models.UniqueConstraint(fields=["member", "application", "kind"], name="conflict_unique_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.member} · {self.application}"


class Assignment(models.Model):
    """A member reviews an application. Never created, and never shown, where a conflict stands."""

    member = models.ForeignKey(CommitteeMember, on_delete=models.CASCADE, related_name="assignments")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="review_assignments")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assigned_at = models.DateTimeField(_("배정 시각"), auto_now_add=True)

    class Meta:
        verbose_name = _("평가 배정")
        verbose_name_plural = _("평가 배정")
        constraints = [models.UniqueConstraint(fields=["member", "application"], name="assignment_unique")]

    def __str__(self) -> str:
        return f"{self.member} → {self.application}"


class ScoreSheet(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("작성 중")
        SUBMITTED = "submitted", _("제출")

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="sheet")
    status = models.CharField(_("상태"), max_length=20, choices=Status.choices, default=Status.DRAFT)
    submitted_at = models.DateTimeField(_("제출 시각"), null=True, blank=True)
    overall_comment = models.TextField(_("종합 의견"), blank=True)

    class Meta:
        verbose_name = _("평가표")
        verbose_name_plural = _("평가표")

    def __str__(self) -> str:
        return f"{self.assignment}"


class ScoreEntry(models.Model):
    sheet = models.ForeignKey(ScoreSheet, on_delete=models.CASCADE, related_name="entries")
    rubric_item = models.ForeignKey(
        RubricItem, verbose_name=_("평가 항목"), on_delete=models.PROTECT, related_name="+"
    )
    # On the five-grade scale the grade is stored and `points` is derived from it by the service.
    grade = models.CharField(_("등급"), max_length=1, blank=True)
    points = models.DecimalField(_("점수"), max_digits=5, decimal_places=2, null=True, blank=True)
    comment = models.TextField(_("의견"), blank=True)

    class Meta:
        verbose_name = _("항목 점수")
        verbose_name_plural = _("항목 점수")
        constraints = [
            models.UniqueConstraint(fields=["sheet", "rubric_item"], name="score_entry_unique_item")
        ]


class EvidenceVerification(models.Model):
    """An operator's verdict on one item of bonus evidence; only verified evidence counts in the final score."""

    class Kind(models.TextChoices):
        REVENUE = "revenue", _("매출액")
        PROJECT = "project", _("정부과제·자체개발")
        CERTIFICATION = "certification", _("인증")
        INTELLECTUAL_PROPERTY = "intellectual_property", _("지식재산권")

    class Status(models.TextChoices):
        VERIFIED = "verified", _("확인")
        REJECTED = "rejected", _("불인정")

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="evidence_verifications"
    )
    kind = models.CharField(_("구분"), max_length=30, choices=Kind.choices)
    # The primary key of the RevenueRecord / GovernmentProject / CertificationHeld / IntellectualProperty row.
    evidence_id = models.PositiveBigIntegerField(_("증빙 ID"))
    status = models.CharField(_("판정"), max_length=20, choices=Status.choices)
    reason = models.TextField(_("사유"), blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(_("판정 시각"))

    class Meta:
        verbose_name = _("증빙 확인")
        verbose_name_plural = _("증빙 확인")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "kind", "evidence_id"], name="evidence_verification_unique"
            )
        ]


class Decision(TimeStampedModel):
    """The selection decision with the support scale fixed for a selected company (announcement §4 ③)."""

    class Outcome(models.TextChoices):
        SELECTED = "selected", _("선정")
        NOT_SELECTED = "not_selected", _("미선정")
        RESERVE = "reserve", _("예비")

    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="decision")
    outcome = models.CharField(_("결과"), max_length=20, choices=Outcome.choices)
    review_score = models.DecimalField(
        _("서면평가 점수"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    bonus_score = models.DecimalField(
        _("우대사항 점수"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    final_score = models.DecimalField(_("최종 점수"), max_digits=6, decimal_places=2, null=True, blank=True)
    rank = models.PositiveSmallIntegerField(_("순위"), null=True, blank=True)
    granted_datasets = models.ManyToManyField(
        ApplicationDataset, verbose_name=_("지원 데이터"), blank=True, related_name="+"
    )
    granted_compute = models.ForeignKey(
        ComputeOption,
        verbose_name=_("지원 GPU"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    support_starts_on = models.DateField(_("지원 시작일"), null=True, blank=True)
    support_ends_on = models.DateField(_("지원 종료일"), null=True, blank=True)
    note = models.TextField(_("비고"), blank=True)
    # What the company is shown once published (per-item means, verified bonus with its reasons), frozen at
    # the decision so a later verification or setting change never alters a result already announced.
    score_breakdown = models.JSONField(_("점수 내역"), default=dict, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("결정 시각"))
    published_at = models.DateTimeField(_("결과 공개 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("선정 결과")
        verbose_name_plural = _("선정 결과")

    def __str__(self) -> str:
        return f"{self.application} · {self.get_outcome_display()}"
