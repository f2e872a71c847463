"""The events people are told about, and how.

Each event has templates in ``templates/notifications/<event>/``: ``sms.txt`` (short,
plain), ``email-subject.txt``, ``email-body.txt``, ``email-body.html`` and
``inapp.txt``; a channel without its template is not offered for that event.
Events of declarations and bookings are added here as those apps call ``notify``.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from notifications.models import Channel


@dataclass(frozen=True)
class Event:
    name: str
    label: str
    channels: frozenset = field(default_factory=lambda: frozenset(Channel))
    # Security messages: no unsubscribe, no preference can turn them off.
    security: bool = False
    # Blank the text once sent (it carries a sign-in code).
    sensitive: bool = False


EVENTS: dict[str, Event] = {
    e.name: e
    for e in [
        Event(
            "auth.code",
            _("Sign-in and verification codes"),
            frozenset({Channel.SMS}),
            security=True,
            sensitive=True,
        ),
        Event(
            "invitation.sent",
            _("Invitations to join a firm"),
            frozenset({Channel.SMS, Channel.EMAIL}),
            security=True,
        ),
        Event("organisation.verified", _("Your firm was verified")),
        Event("membership.role_changed", _("Your role in a firm changed")),
        Event("membership.removed", _("You were removed from a firm")),
        Event("driver.joined", _("A driver joined your firm")),
        Event("declaration.submitted", _("A declaration was submitted")),
        Event("declaration.accepted", _("A declaration was accepted")),
        Event("declaration.changes_requested", _("Customs asked for changes to a declaration")),
        Event("declaration.rejected", _("A declaration was rejected")),
        Event("booking.confirmed", _("A slot was booked")),
        Event("booking.moved", _("A booking was moved to another slot")),
        Event("booking.cancelled", _("A booking was cancelled")),
        Event("booking.reminder", _("Reminder before a booked slot")),
        Event("booking.checked_in", _("A truck checked in at the gate")),
        Event("booking.released", _("A truck was released at the port")),
        Event("booking.no_show", _("A booked slot was missed")),
    ]
}

# Events a person may switch on or off, in the order the preferences page shows them.
OPTIONAL_EVENTS = [e for e in EVENTS.values() if not e.security]
