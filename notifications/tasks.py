import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from notifications.transports import Sms, TransportError, get_sms_transport

log = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=5, acks_late=True)
def sms_deliver(self, to: str, body: str) -> str | None:
    try:
        return get_sms_transport().send(Sms(to=to, body=body))
    except TransportError as exc:
        if exc.permanent:
            log.warning("SMS to %s refused for good: %s", to, exc.message)
            return None
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 10, 600)) from exc


@shared_task(bind=True, max_retries=5, acks_late=True)
def email_deliver(self, to: str, subject: str, text: str, html: str) -> None:
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except OSError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 10, 600)) from exc
