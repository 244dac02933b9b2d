"""Notices to users: in the platform (the bell in the header) and by e-mail through Django's e-mail backend
(the console in the demo). Every domain app sends through here, so one user's notices are in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from medbroker.accounts.models import Notification, Organisation, Role, User
from medbroker.core import timeutils

logger = logging.getLogger(__name__)


def organisation_recipients(organisation: Organisation) -> QuerySet[User]:
    """The people a company's notices go to: its active members with the applicant role."""
    return User.objects.filter(
        organisation=organisation, is_active=True, role_assignments__role=Role.APPLICANT
    ).distinct()


def operator_recipients() -> QuerySet[User]:
    return User.objects.filter(is_active=True, role_assignments__role=Role.OPERATOR).distinct()


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notice by e-mail, once: a notice already e-mailed (a retried task) is not sent again."""
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None or notification.emailed_at is not None or not notification.user.email:
        return False
    body = notification.body
    if notification.link:
        body = f"{body}\n\n{settings.MEDBROKER_SITE_URL.rstrip('/')}{notification.link}"
    try:
        send_mail(
            subject=f"[medbroker] {notification.title}",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.user.email],
        )
    except OSError:
        # A mail server that is down must not undo the change the notice is about; the in-app notice
        # stays, and the missing ``emailed_at`` shows the mail did not go.
        logger.exception("notification %s: e-mail not sent", notification_id)
        return False
    Notification.objects.filter(pk=notification_id).update(emailed_at=timeutils.now())
    return True


def _email_task_schedule(notification_id: int) -> None:
    # Imported here: the task module imports this one for the work it wraps.
    from medbroker.accounts.tasks import notification_email_send as task

    task.delay(notification_id)


def notification_send(
    *,
    users: Iterable[User],
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    dedupe_key: str = "",
) -> list[Notification]:
    """Give each user an in-app notice and send it by e-mail after the surrounding transaction commits.

    With ``dedupe_key`` a user who already has a notice with that key gets nothing new, so periodic tasks
    can call this on every run.
    """
    created: list[Notification] = []
    for user in users:
        if dedupe_key and Notification.objects.filter(user=user, dedupe_key=dedupe_key).exists():
            continue
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    user=user, kind=kind, title=title, body=body, link=link, dedupe_key=dedupe_key
                )
        except IntegrityError:
            # Another run sent the same keyed notice between the check and the insert.
            continue
        created.append(notification)
        # After commit, as a task: the mail goes only for a change that happened, and a slow mail server
        # delays a worker, not the request (in the embedded default the task runs in-process).
        transaction.on_commit(partial(_email_task_schedule, notification.pk))
    return created


def notification_mark_read(*, user: User, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's notices read (all of them when ``notification_ids`` is None); return how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timeutils.now())
