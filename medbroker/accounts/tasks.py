"""Background jobs of the accounts app: thin wrappers over the services, taking primary keys."""

from __future__ import annotations

from celery import shared_task

from medbroker.accounts.services.notifications import notification_email_send as _notification_email_send


@shared_task(name="medbroker.accounts.tasks.notification_email_send")
def notification_email_send(notification_id: int) -> bool:
    """E-mail one notice; idempotent (a notice already e-mailed is skipped)."""
    return _notification_email_send(notification_id=notification_id)
