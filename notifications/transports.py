"""SMS transports, chosen by the SMS_TRANSPORT setting the way EMAIL_BACKEND picks email."""

import logging
import sys
import threading
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class TransportError(Exception):
    """A send that failed. Permanent errors (a bad number) are not retried."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Sms:
    to: str
    body: str


class SmsTransport:
    def send(self, sms: Sms) -> str:
        """Send one message; return the provider's message id or raise TransportError."""
        raise NotImplementedError


class ConsoleSmsTransport(SmsTransport):
    """Prints each message: for development, where the code shows in the run output."""

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


def get_sms_transport() -> SmsTransport:
    return import_string(settings.SMS_TRANSPORT)()
