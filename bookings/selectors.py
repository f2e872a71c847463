"""Reads of bookings: who sees which booking, lists of bookings, the free places of a day."""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from bookings import services
from bookings.models import HOLDING, Booking, Lane, Pass, Slot
from portal.models import Membership, Port


def booking_for(user, pk) -> Booking:
    """A booking the user may see: any member of its firm, or its driver.

    Anyone else gets 404, whether it exists or not. Whether the user may also change it is
    the services' question (``may_book``): a declarant sees the firm's bookings, and gets 403
    when moving or cancelling one.
    """
    if not user.is_authenticated:
        raise Http404
    booking = (
        Booking.objects.select_related(
            "port", "slot__lane", "vehicle", "driver__user", "organisation", "declaration__driver"
        )
        .filter(pk=pk)
        .first()
    )
    if booking is None:
        raise Http404
    if booking.driver_id is not None and booking.driver.user_id == user.pk:
        return booking
    if Membership.objects.filter(user=user, organisation_id=booking.organisation_id).exists():
        return booking
    raise Http404


def _listed(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    """What a list shows of each booking, in a fixed number of queries."""
    return (
        bookings.select_related("port", "slot__lane", "vehicle", "driver__user", "declaration")
        .prefetch_related(
            Prefetch("passes", queryset=Pass.objects.filter(revoked_at__isnull=True), to_attr="live_passes")
        )
        .order_by("-slot__starts_at", "-pk")
    )


def bookings_of_driver(user) -> QuerySet[Booking]:
    return _listed(Booking.objects.filter(driver__user=user))


def bookings_of(organisation, *, status: str = "") -> QuerySet[Booking]:
    bookings = Booking.objects.filter(organisation=organisation)
    return _listed(bookings.filter(status=status) if status else bookings)


def holding_booking_of_vehicle(vehicle_id, port_id) -> Booking | None:
    """The booking that keeps a vehicle from booking again at a port, if any."""
    if vehicle_id is None:
        return None
    return Booking.objects.filter(vehicle_id=vehicle_id, port_id=port_id, status__in=HOLDING).first()


# --- days and free places


def port_today(port: Port) -> date:
    return timezone.localtime(timezone.now(), services.port_zone(port)).date()


def bookable_days(port: Port) -> list[date]:
    """Today and the days ahead that the port's booking window reaches, in port time."""
    today = port_today(port)
    return [today + timedelta(days=n) for n in range(services.policy_of(port).window_days + 1)]


def window_day(port: Port, day: date) -> date | None:
    """The day if the booking window reaches it, else None."""
    days = bookable_days(port)
    return day if days[0] <= day <= days[-1] else None


def parse_day(port: Port, text: str | None) -> date | None:
    """A day of the booking window given as YYYY-MM-DD; None for anything else."""
    try:
        return window_day(port, date.fromisoformat(text or ""))
    except ValueError:
        return None


class CellState:
    FREE = "free"
    FULL = "full"
    CLOSED = "closed"  # begun, past the cut-off, or beyond the window
    CURRENT = "current"  # the booking being moved is here


@dataclass(frozen=True)
class Cell:
    slot: Slot
    state: str

    @property
    def free(self) -> int:
        return self.slot.free

    @property
    def bookable(self) -> bool:
        return self.state == CellState.FREE


@dataclass(frozen=True)
class LaneDay:
    lane: Lane
    cells: list[Cell]

    @property
    def free(self) -> int:
        return sum(cell.free for cell in self.cells if cell.bookable)


def _day_slots(lanes: list[Lane], start: datetime, end: datetime) -> list[Slot]:
    return list(
        Slot.objects.filter(lane__in=lanes, starts_at__gte=start, starts_at__lt=end).order_by("starts_at")
    )


def availability(port: Port, lanes: list[Lane], day: date, *, current: Slot | None = None) -> list[LaneDay]:
    """The slots of these lanes on one day (port time) with what can still be booked.

    One query when the day's slots exist. A lane with no slot that day has them made from the
    plan first (``slots_ensure`` is idempotent), so the first look at a day creates it and
    later looks only read; a day the plan keeps closed costs that check on each look.
    """
    zone = services.port_zone(port)
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    slots = _day_slots(lanes, start, end)
    missing = {lane.pk for lane in lanes} - {slot.lane_id for slot in slots}
    if missing and services.slots_ensure(port, day, day):
        slots = _day_slots(lanes, start, end)
    policy = services.policy_of(port)
    now = timezone.now()
    opens_until = now + timedelta(days=policy.window_days)
    closes_from = now + timedelta(minutes=policy.cutoff_minutes)

    def state(slot: Slot) -> str:
        if current is not None and slot.pk == current.pk:
            return CellState.CURRENT
        if slot.starts_at < closes_from or slot.starts_at > opens_until:
            return CellState.CLOSED
        return CellState.FREE if slot.free > 0 else CellState.FULL

    by_lane: dict[int, list[Cell]] = {lane.pk: [] for lane in lanes}
    for slot in slots:
        if slot.starts_at > now:  # what has begun is of no use to anyone choosing
            by_lane[slot.lane_id].append(Cell(slot, state(slot)))
    return [LaneDay(lane, by_lane[lane.pk]) for lane in lanes]


def slots_by_id(ids) -> dict[int, Slot]:
    return {slot.pk: slot for slot in Slot.objects.filter(pk__in=ids).select_related("lane")}


# --- the viewer's own time zone

_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


@lru_cache(maxsize=128)
def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone a browser reported (the ``tz`` cookie), or None if it is not one."""
    if not name or len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
