from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.core.models import TimeStampedModel


class Role(models.TextChoices):
    OPERATOR = "operator", _("운영자")
    APPLICANT = "applicant", _("신청기업 담당자")
    REVIEWER = "reviewer", _("평가위원")
    DATA_STEWARD = "data_steward", _("데이터 관리자")
    AUDITOR = "auditor", _("감사자")


# Roles whose accounts must pass a second factor before they can do anything: operators and data stewards
# hold the keys to applications and to the data itself, and auditors read every company's documents.
ROLES_REQUIRING_SECOND_FACTOR = frozenset({Role.OPERATOR, Role.DATA_STEWARD, Role.AUDITOR})


class Organisation(TimeStampedModel):
    class Kind(models.TextChoices):
        COMPANY = "company", _("기업")
        INSTITUTION = "institution", _("병원·기관")
        LAB = "lab", _("지원기관")

    kind = models.CharField(_("구분"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("기관명"), max_length=200)
    name_en = models.CharField(_("영문 기관명"), max_length=200, blank=True)
    business_registration_number = models.CharField(
        _("사업자등록번호"), max_length=10, blank=True, help_text=_("숫자 10자리")
    )
    representative = models.CharField(_("대표자"), max_length=100, blank=True)
    address = models.CharField(_("주소"), max_length=300, blank=True)
    contact_name = models.CharField(_("담당자"), max_length=100, blank=True)
    contact_email = models.EmailField(_("담당자 이메일"), blank=True)
    contact_phone = models.CharField(_("담당자 전화"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("기관")
        verbose_name_plural = _("기관")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_registration_number"],
                condition=~models.Q(business_registration_number=""),
                name="organisation_unique_business_registration_number",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def business_registration_number_display(self) -> str:
        n = self.business_registration_number
        return f"{n[:3]}-{n[3:5]}-{n[5:]}" if len(n) == 10 else n


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("소속 기관"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    display_name = models.CharField(_("이름"), max_length=100, blank=True)
    phone = models.CharField(_("전화"), max_length=40, blank=True)
    # Proof of the consent to personal-information collection given at sign-up (개인정보 보호법 §15):
    # when it was given, so the record survives even if the audit log is archived.
    privacy_consented_at = models.DateTimeField(_("개인정보 수집·이용 동의 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("사용자")
        verbose_name_plural = _("사용자")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def role_codes(self) -> frozenset[str]:
        cached: frozenset[str] | None = getattr(self, "_role_codes", None)
        if cached is None:
            cached = (
                frozenset(self.role_assignments.values_list("role", flat=True)) if self.pk else frozenset()
            )
            self._role_codes = cached
        return cached

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_codes.intersection(roles))

    @property
    def needs_second_factor(self) -> bool:
        # Django admin accounts (staff, superusers) can change roles and calls: same rule as operators.
        return self.is_staff or self.is_superuser or bool(self.role_codes & ROLES_REQUIRING_SECOND_FACTOR)


class RoleAssignment(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("역할"), max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(_("부여 시각"), auto_now_add=True)

    class Meta:
        verbose_name = _("역할 부여")
        verbose_name_plural = _("역할 부여")
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="role_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the plain key is shown once at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("이름"), max_length=100)
    prefix = models.CharField(_("앞자리"), max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("생성 시각"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("최근 사용"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("폐기 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 토큰")
        verbose_name_plural = _("API 토큰")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return "mbk_" + secrets.token_urlsafe(32)


class Notification(models.Model):
    """An in-app notice to one user; the same text goes out by e-mail when the user has an address."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("받는 사람"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(_("종류"), max_length=40)
    title = models.CharField(_("제목"), max_length=200)
    body = models.TextField(_("내용"), blank=True)
    link = models.CharField(_("링크"), max_length=300, blank=True)
    # A notice sent by a periodic task carries a key, so a second run never repeats it.
    dedupe_key = models.CharField(_("중복 방지 키"), max_length=160, blank=True)
    created_at = models.DateTimeField(_("보낸 시각"), auto_now_add=True)
    read_at = models.DateTimeField(_("읽은 시각"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("메일 발송 시각"), null=True, blank=True)

    class Meta:
        verbose_name = _("알림")
        verbose_name_plural = _("알림")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_unique_dedupe_key",
            )
        ]

    def __str__(self) -> str:
        return self.title
