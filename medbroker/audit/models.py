from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from medbroker.core.errors import DomainError


class AuditEvent(models.Model):
    """One entry of the append-only, hash-chained event log.

    ``entry_hash`` is the SHA-256 of the entry's canonical content together with ``previous_hash``, so a
    changed or removed entry breaks the chain from that point on (``medbroker audit verify``).
    """

    sequence = models.PositiveBigIntegerField(_("순번"), unique=True)
    occurred_at = models.DateTimeField(_("발생 시각"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("행위자"),
        # DO_NOTHING with no database constraint: the entry keeps the id it was hashed with even after the
        # account is deleted (SET_NULL would rewrite the entry and break the chain).
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    # The actor is copied as text so the entry still says who it was if the account is later removed.
    actor_label = models.CharField(_("행위자 표시"), max_length=200, blank=True)
    action = models.CharField(_("행위"), max_length=100, db_index=True)
    object_type = models.CharField(_("대상 종류"), max_length=100, blank=True, db_index=True)
    object_id = models.CharField(_("대상 ID"), max_length=64, blank=True, db_index=True)
    summary = models.CharField(_("요약"), max_length=500, blank=True)
    data = models.JSONField(_("세부 내용"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("접속 주소"), null=True, blank=True)
    user_agent = models.CharField(_("브라우저"), max_length=300, blank=True)
    previous_hash = models.CharField(_("이전 해시"), max_length=64)
    entry_hash = models.CharField(_("해시"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("감사 기록")
        verbose_name_plural = _("감사 기록")
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Append-only: an entry is written once, by audit.services.audit_record, and never updated.
        if not self._state.adding:
            raise DomainError("audit_immutable", _("감사 기록은 수정할 수 없습니다."))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise DomainError("audit_immutable", _("감사 기록은 삭제할 수 없습니다."))
