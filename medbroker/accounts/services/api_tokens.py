"""Personal API tokens: created and revoked by their owner, checked on every API request."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from medbroker.accounts.models import ApiToken, User
from medbroker.audit.services import audit_record
from medbroker.core import timeutils
from medbroker.core.errors import DomainError

API_KEY_PREFIX = "mbk_"


@transaction.atomic
def api_token_create(*, user: User, name: str, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with its plain key, which is never stored nor shown again."""
    name = name.strip()
    if not name:
        raise DomainError("api_token_name_required", _("토큰 이름을 입력해 주세요."), field="name")
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[: ApiToken._meta.get_field("prefix").max_length],
        key_hash=ApiToken.hash_key(key),
    )
    audit_record(
        action="accounts.api_token_created",
        actor=user,
        target=token,
        summary=f"API 토큰 발급: {token.name} ({token.prefix}…)",
        data={"name": token.name, "prefix": token.prefix},
        request=request,
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User, request: HttpRequest | None = None) -> ApiToken:
    """Revoke ``token`` at once; only its owner may."""
    if token.user_id != actor.pk:
        raise DomainError("api_token_not_yours", _("본인의 토큰만 폐기할 수 있습니다."), status_code=403)
    # The conditional update makes a double submit (two tabs) revoke once and record once.
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timeutils.now())
    if not revoked:
        raise DomainError("api_token_already_revoked", _("이미 폐기된 토큰입니다."))
    token.refresh_from_db(fields=["revoked_at"])
    audit_record(
        action="accounts.api_token_revoked",
        actor=actor,
        target=token,
        summary=f"API 토큰 폐기: {token.name} ({token.prefix}…)",
        data={"name": token.name, "prefix": token.prefix},
        request=request,
    )
    return token


def api_token_authenticate(key: str) -> User | None:
    """The active user whose live token has this plain ``key``, or None; records when it was used."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    # One UPDATE, no read-modify-write of the row: concurrent requests with one token never conflict.
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timeutils.now())
    return token.user
