from datetime import timedelta

from celery import shared_task
from django.core.management import call_command
from django.utils import timezone

from portal.models import Invitation


@shared_task
def sessions_clear() -> None:
    call_command("clearsessions")


@shared_task
def invitations_purge() -> int:
    """Drop invitations that closed more than 30 days ago; their audit events remain."""
    cutoff = timezone.now() - timedelta(days=30)
    deleted, _rows = Invitation.objects.filter(expires_at__lt=cutoff, accepted_at__isnull=True).delete()
    return deleted
