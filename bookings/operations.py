"""Writes the port makes on its own: the periodic no-show and reminder sweeps, an
operator's change of a slot's capacity, and a changed plan applied to the slots made.

A sweep picks its candidates with a plain read, then claims each booking with a conditional
update on the booking row alone (status, slot, ``reminded_at``) and acts only if it won the
claim. Two beats running at once, or a sweep racing the gate or a move, act once.
"""

from dataclasses import asdict
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings import services
from bookings.models import Booking, BookingStatus, Pass, Slot
from portal.audit import audit_log
from portal.errors import ApplicationError
from portal.models import Port

# Bookings handled per port and run; what is left waits for the next beat.
BATCH = 500

# Switched off only by the concurrency test's negative control, to show the race is real.
CLAIM_CONDITIONALLY = True


def _booking(booking_id: int) -> Booking:
    return Booking.objects.select_related("port", "slot__lane", "vehicle", "driver", "organisation").get(
        pk=booking_id
    )


# --- no-shows


def no_shows_mark(*, now: datetime | None = None) -> int:
    """Mark as no-shows the active bookings whose slot ended longer ago than the port's grace
    period. Returns how many were marked."""
    now = now or timezone.now()
    marked = 0
    for port in Port.objects.all():
        grace = timedelta(minutes=services.policy_of(port).no_show_grace_minutes)
        due = Booking.objects.filter(
            port=port, status=BookingStatus.ACTIVE, slot__ends_at__lt=now - grace
        ).values_list("pk", "slot_id")
        for booking_id, slot_id in list(due.order_by("slot__ends_at", "pk")[:BATCH]):
            marked += booking_no_show(booking_id=booking_id, slot_id=slot_id, now=now)
    return marked


@transaction.atomic
def booking_no_show(*, booking_id: int, slot_id: int, now: datetime | None = None) -> bool:
    """Claim one booking as a no-show, revoke its pass and tell the firm and the driver.

    The place is not given back: the slot is over. Returns False if the booking was checked
    in, cancelled, moved or marked meanwhile, or its grace period has not run out.
    """
    now = now or timezone.now()
    slot = Slot.objects.select_related("port").get(pk=slot_id)
    grace = timedelta(minutes=services.policy_of(slot.port).no_show_grace_minutes)
    if slot.ends_at + grace >= now:
        return False
    claimed = Booking.objects.filter(pk=booking_id, slot_id=slot_id, status=BookingStatus.ACTIVE).update(
        status=BookingStatus.NO_SHOW, updated_at=now
    )
    if not claimed:
        return False
    Pass.objects.filter(booking_id=booking_id, revoked_at__isnull=True).update(revoked_at=now)
    booking = _booking(booking_id)
    audit_log(
        actor=None,
        action="booking.no_show",
        obj=booking,
        organisation=booking.organisation,
        from_status=BookingStatus.ACTIVE,
        to_status=BookingStatus.NO_SHOW,
        slot_ends_at=slot.ends_at.isoformat(),
    )
    services._tell("booking.no_show", booking)
    return True


# --- reminders


def reminders_send(*, now: datetime | None = None) -> int:
    """Remind the active bookings whose slot starts within the port's reminder time and that
    have not been reminded for this slot. Returns how many were reminded."""
    now = now or timezone.now()
    sent = 0
    for port in Port.objects.all():
        ahead = timedelta(minutes=services.policy_of(port).reminder_minutes)
        due = Booking.objects.filter(
            port=port,
            status=BookingStatus.ACTIVE,
            reminded_at__isnull=True,
            slot__starts_at__gt=now,
            slot__starts_at__lte=now + ahead,
        ).values_list("pk", "slot_id")
        for booking_id, slot_id in list(due.order_by("slot__starts_at", "pk")[:BATCH]):
            sent += booking_remind(booking_id=booking_id, slot_id=slot_id, now=now)
    return sent


@transaction.atomic
def booking_remind(*, booking_id: int, slot_id: int, now: datetime | None = None) -> bool:
    """Claim the reminder of one booking for one slot, then send it. A move clears
    ``reminded_at``, so a moved booking is reminded again for its new slot."""
    now = now or timezone.now()
    if not CLAIM_CONDITIONALLY:  # the race, for the negative control only
        claimed = Booking.objects.filter(pk=booking_id).update(reminded_at=now)
    else:
        claimed = Booking.objects.filter(
            pk=booking_id, slot_id=slot_id, status=BookingStatus.ACTIVE, reminded_at__isnull=True
        ).update(reminded_at=now)
    if not claimed:
        return False
    booking = _booking(booking_id)
    live = services.live_pass(booking)
    # Keyed by the pass: a booking moved away and back is a new reminder, not a repeat.
    services._tell("booking.reminder", booking, key=live.nonce if live else f"slot-{slot_id}")
    return True


# --- the back office


@transaction.atomic
def slot_capacity_set(*, actor, slot: Slot, capacity: int) -> Slot:
    """Change how many trucks a slot takes; never below the places already booked. The slot
    row is locked, so no booking slips in between the check and the change."""
    slot = Slot.objects.select_for_update().get(pk=slot.pk)
    if capacity < slot.booked:
        raise ApplicationError(
            _("%(booked)s places of this slot are booked; the capacity cannot be less.")
            % {"booked": slot.booked},
            code="below_booked",
            extra={"field": "capacity", "booked": slot.booked},
        )
    if capacity == slot.capacity:
        return slot
    before = slot.capacity
    Slot.objects.filter(pk=slot.pk).update(capacity=capacity, planned_capacity=None)  # by hand
    slot.capacity, slot.planned_capacity = capacity, None
    audit_log(
        actor=actor,
        action="slot.capacity_changed",
        obj=slot,
        from_capacity=before,
        to_capacity=capacity,
    )
    return slot


@transaction.atomic
def plan_apply(*, actor, port: Port, change: str) -> services.Replan:
    """After an operator changed the port's plan (``change``: what, for the audit log), apply
    it to the slots already made for the coming days."""
    result = services.slots_replan(port)
    audit_log(actor=actor, action="plan.applied", obj=port, change=change, **asdict(result))
    return result
