"""Transports: one send() each, chosen by settings the way EMAIL_BACKEND picks email.

A transport returns the provider's message id or raises TransportError; a permanent
error (a bad number) is not retried, a temporary one (timeout, 5xx, 429) is.
"""

import logging
import sys
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string

from notifications import http

log = logging.getLogger(__name__)


class TransportError(Exception):
    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    idempotency_key: str = ""


class SmsTransport:
    def send(self, sms: Sms) -> str:
        raise NotImplementedError


class ConsoleSmsTransport(SmsTransport):
    """Prints each message: for development, where codes show in the run output."""

    _lock = threading.Lock()
    _count = 0

    def send(self, sms: Sms) -> str:
        with self._lock:
            ConsoleSmsTransport._count += 1
            message_id = f"console-{ConsoleSmsTransport._count}"
        sys.stdout.write(f"\n=== SMS to {sms.to} ===\n{sms.body}\n=== end of SMS ===\n")
        sys.stdout.flush()
        return message_id


# Messages "sent" by LocmemSmsTransport, for tests; like django.core.mail.outbox.
outbox: list[Sms] = []


class LocmemSmsTransport(SmsTransport):
    def send(self, sms: Sms) -> str:
        outbox.append(sms)
        return f"locmem-{len(outbox)}"


def _http_error(response) -> TransportError:
    retry_after = None
    if response.headers.get("Retry-After", "").isdigit():
        retry_after = float(response.headers["Retry-After"])
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 409, 425, 429)
    return TransportError(
        f"gateway answered {response.status_code}: {response.text[:200]}",
        permanent=permanent,
        retry_after=retry_after,
    )


def _post(url: str, **kwargs):
    try:
        return http.post(url, **kwargs)
    except http.TransportFailure as exc:
        raise TransportError(f"{exc.__class__.__name__}: {exc}") from exc


class HttpJsonSmsTransport(SmsTransport):
    """A generic gateway: POST {"to", "text", "reference", "sender"} as JSON, bearer token.

    The reference (our idempotency key) is also sent as Idempotency-Key, so that a send
    repeated after a crash is accepted once by a gateway that honours it.
    """

    def send(self, sms: Sms) -> str:
        headers = {"Idempotency-Key": sms.idempotency_key}
        if settings.SMS_GATEWAY_TOKEN:
            headers["Authorization"] = f"Bearer {settings.SMS_GATEWAY_TOKEN}"
        response = _post(
            settings.SMS_GATEWAY_URL,
            json={
                "to": sms.to,
                "text": sms.body,
                "reference": sms.idempotency_key,
                "sender": settings.SMS_SENDER_ID,
            },
            headers=headers,
        )
        if response.status_code >= 300:
            raise _http_error(response)
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            # Accepted, but the answer is not what the contract says: do not send again.
            log.warning(
                "SMS gateway accepted %s without a message id: %r", sms.idempotency_key, response.text[:200]
            )
            return ""


class TwilioSmsTransport(SmsTransport):
    """Twilio's Messages API, or any gateway that speaks it."""

    # Twilio error codes that no retry will fix (invalid or unreachable number, opt-out).
    PERMANENT_CODES = {21211, 21214, 21217, 21408, 21610, 21612, 21614}

    def send(self, sms: Sms) -> str:
        base = settings.TWILIO_API_BASE.rstrip("/")
        response = _post(
            f"{base}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages.json",
            data={"To": sms.to, "From": settings.TWILIO_FROM, "Body": sms.body},
            auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
        )
        if response.status_code >= 300:
            error = _http_error(response)
            try:
                if response.json().get("code") in self.PERMANENT_CODES:
                    error.permanent = True
            except ValueError:
                pass
            raise error
        try:
            return str(response.json()["sid"])
        except (ValueError, KeyError, TypeError):
            # Accepted: sending again would send twice (Twilio takes no idempotency key).
            log.warning("Twilio accepted a message without a sid: %r", response.text[:200])
            return ""


def get_sms_transport() -> SmsTransport:
    return import_string(settings.SMS_TRANSPORT)()


def email_send(*, to: str, subject: str, text: str, html: str, idempotency_key: str, headers: dict) -> str:
    """Send through Django's EMAIL_BACKEND; the Message-ID is derived from the key so a
    receiving server can tell a repeat."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">") or "landport.example"
    message_id = f"<{idempotency_key.replace(':', '.').replace('@', '.')}@{domain}>"
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [to], headers={"Message-ID": message_id, **headers}
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        message.send()
    except OSError as exc:  # smtplib errors are OSErrors
        import smtplib

        permanent = isinstance(exc, smtplib.SMTPRecipientsRefused)
        raise TransportError(f"{exc.__class__.__name__}: {exc}", permanent=permanent) from exc
    return message_id
