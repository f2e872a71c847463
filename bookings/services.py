"""Every write of bookings: slots from the plan, book, move, cancel, passes.

A place is taken by one conditional ``UPDATE … SET booked = booked + 1 WHERE booked <
capacity``, last in the transaction so that the slot's row stays locked only until the
commit; a racer blocked on the row re-checks the condition against the committed row.
Giving a place back is a conditional decrement, since it can only make room. One active
booking per vehicle and port is a database constraint.
"""

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Value, When
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings import passes
from bookings.models import (
    HOLDING,
    Booking,
    BookingPolicy,
    BookingStatus,
    CapacityException,
    Lane,
    LaneDirection,
    LaneType,
    OpeningHours,
    Pass,
    Slot,
)
from declarations import selectors as declaration_selectors
from declarations.models import CargoCategory, Declaration, Direction, RiskChannel, Status
from notifications.services import notify, notify_later
from portal.errors import ApplicationError
from portal.models import Membership, Port, Role

BOOKABLE_DECLARATIONS = {Status.SUBMITTED, Status.UNDER_REVIEW, Status.ACCEPTED}
BOOKING_ROLES = {Role.ADMIN, Role.DISPATCHER}

# Switched off only by the concurrency test's negative control, to show the race is real.
LOCK_CAPACITY = True


def policy_of(port: Port) -> BookingPolicy:
    """The port's policy: joined by the caller's query where it could be, else read (and
    made, for a port that has none yet)."""
    policy = getattr(port, "_booking_policy_cache", None)
    if policy is None:
        try:
            policy = port.booking_policy
        except BookingPolicy.DoesNotExist:
            policy, _created = BookingPolicy.objects.get_or_create(port=port)
        port._booking_policy_cache = policy
    return policy


def port_zone(port: Port) -> ZoneInfo:
    return ZoneInfo(port.time_zone)


# --- slots from the capacity plan


def _windows(port: Port, day: date, hours: list[OpeningHours]) -> list[tuple[datetime, datetime]]:
    """The day's opening windows as naive port-time datetimes."""
    if port.open_24h:
        return [(datetime.combine(day, time()), datetime.combine(day + timedelta(days=1), time()))]
    windows = []
    for entry in hours:
        if entry.weekday != day.weekday():
            continue
        start = datetime.combine(day, entry.opens)
        end = datetime.combine(day, entry.closes)
        if end <= start:  # past midnight, or the whole day when opens == closes
            end += timedelta(days=1)
        windows.append((start, end))
    return windows


def _plan(port: Port, first: date, last: date) -> dict[tuple[int, datetime], tuple[datetime, int]]:
    """The slots the plan gives for the days first..last (port time), as (lane id, start) →
    (end, capacity): active lanes, opening hours, slot length and single-day exceptions."""
    policy = policy_of(port)
    zone = port_zone(port)
    lanes = list(Lane.objects.filter(port=port, active=True))
    hours = list(OpeningHours.objects.filter(port=port))
    exceptions = list(CapacityException.objects.filter(port=port, date__gte=first, date__lte=last))
    step = timedelta(minutes=policy.slot_minutes)
    planned = {}
    day = first
    while day <= last:
        todays = [e for e in exceptions if e.date == day]
        if not any(e.closed and e.lane_id is None for e in todays):
            for lane in lanes:
                lane_rules = [e for e in todays if e.lane_id in (None, lane.pk)]
                if any(e.closed for e in lane_rules):
                    continue
                override = next(
                    (e.capacity for e in sorted(lane_rules, key=lambda e: e.lane_id is None) if e.capacity),
                    None,
                )
                capacity = override if override is not None else lane.capacity
                for start, end in _windows(port, day, hours):
                    moment = start
                    while moment + step <= end:
                        planned[lane.pk, moment.replace(tzinfo=zone)] = (
                            (moment + step).replace(tzinfo=zone),
                            capacity,
                        )
                        moment += step
        day += timedelta(days=1)
    return planned


@transaction.atomic
def slots_ensure(port: Port, first: date, last: date) -> int:
    """Create the slots of the port's plan for the days first..last (port time) that do not
    exist yet, and do not overlap a slot that does (one kept from before a change of slot
    length, say). Existing slots are left as they are: they may hold bookings. Returns how
    many were created."""
    _plan_lock(port)
    planned = _plan(port, first, last)
    if not planned:
        return 0
    # Only the missing ones are inserted, so that the count is true and a day that exists
    # costs one read.
    span_start = datetime.combine(first, time(), tzinfo=port_zone(port))
    existing = set()
    by_lane: dict[int, list[tuple[datetime, datetime]]] = {}
    for lane_id, starts_at, ends_at in Slot.objects.filter(
        port=port,
        starts_at__gte=span_start - timedelta(days=1),
        starts_at__lt=span_start + timedelta(days=(last - first).days + 2),
    ).values_list("lane_id", "starts_at", "ends_at"):
        existing.add((lane_id, starts_at))
        by_lane.setdefault(lane_id, []).append((starts_at, ends_at))
    for taken in by_lane.values():
        taken.sort()

    def overlaps(lane_id, start, end) -> bool:
        # A lane's slots never overlap one another, so only the last one starting before
        # ``end`` can reach past ``start``.
        taken = by_lane.get(lane_id, [])
        before = bisect_left(taken, (end,))
        return before > 0 and taken[before - 1][1] > start

    new = [
        Slot(
            port=port,
            lane_id=lane_id,
            starts_at=start,
            ends_at=end,
            capacity=capacity,
            planned_capacity=capacity,
        )
        for (lane_id, start), (end, capacity) in planned.items()
        if (lane_id, start) not in existing and not overlaps(lane_id, start, end)
    ]
    if not new:
        return 0
    # Two processes may fill the same day at once: the unique constraint keeps one of each.
    before = Slot.objects.filter(port=port).count()
    Slot.objects.bulk_create(new, ignore_conflicts=True)
    return Slot.objects.filter(port=port).count() - before


@dataclass(frozen=True)
class Replan:
    changed: int  # slots whose capacity was set to the plan's
    removed: int  # slots the plan no longer has, that nobody had booked
    created: int  # slots the plan has now that did not exist
    held: int  # places booked beyond what the plan now gives (slots closed or made smaller)


def _plan_lock(port: Port) -> None:
    """One writer of a port's slots from the plan at a time (a replan, the hourly task, a
    first look at a day), so none reads the plan before another's change and writes after
    it. NO KEY UPDATE: bookings, whose foreign key checks share the port row, go on."""
    list(Port.objects.select_for_update(no_key=True).filter(pk=port.pk).values_list("pk"))


@transaction.atomic
def slots_replan(port: Port) -> Replan:
    """Apply the port's plan, as it is now, to its slots already made for the coming days.

    A slot the plan still has takes the plan's capacity, unless an operator set that slot's
    capacity by hand; a slot it no longer has (a closed day or lane, shorter hours, another
    slot length) is deleted if it never had a booking, else keeps only its booked places and
    closes as they leave (``planned_capacity``). No slot ever gets fewer places than it has
    booked: the capacity is set as ``GREATEST(plan, booked)`` in the ``UPDATE`` itself, which
    PostgreSQL evaluates again on the row a racing booking has just committed. Slots that
    have begun are left alone; missing ones are made up to the end of the booking window."""
    _plan_lock(port)
    now = timezone.now()
    zone = port_zone(port)
    today = timezone.localtime(now, zone).date()
    window_end = today + timedelta(days=policy_of(port).window_days)
    future = Slot.objects.filter(port=port, starts_at__gt=now)
    last = future.aggregate(last=Max("starts_at"))["last"]
    last_day = max(timezone.localtime(last, zone).date(), window_end) if last else window_end
    planned = _plan(port, today - timedelta(days=1), last_day)  # yesterday's hours may run past midnight
    targets: dict[int, list[int]] = {}
    unplanned = []
    held = 0
    for pk, lane_id, starts_at, ends_at, booked, plan_before in future.values_list(
        "pk", "lane_id", "starts_at", "ends_at", "booked", "planned_capacity"
    ):
        plan = planned.get((lane_id, starts_at))
        if plan is None or plan[0] != ends_at:
            unplanned.append(pk)
            held += booked
        elif plan_before is not None:  # None: set by hand
            held += max(booked - plan[1], 0)
            targets.setdefault(plan[1], []).append(pk)  # the UPDATE skips those already right
    never_booked = Slot.objects.filter(pk__in=unplanned, booked=0).exclude(
        Exists(Booking.objects.filter(slot=OuterRef("pk")))
    )
    # One DELETE with its conditions, which the database checks again on a row a booking
    # has just taken, rather than Django's read-then-delete by id (``delete()``).
    removed = never_booked._raw_delete(never_booked.db) if unplanned else 0
    changed = _capacity_set(unplanned, 0, by_hand_too=True)  # those left hold bookings: no new ones
    for capacity, ids in targets.items():
        changed += _capacity_set(ids, capacity)
    created = slots_ensure(port, today, window_end)
    return Replan(changed=changed, removed=removed, created=created, held=held)


def _capacity_set(ids: list[int], capacity: int, *, by_hand_too: bool = False) -> int:
    """The plan's ``capacity`` for these slots, never below what each has booked. A capacity
    set by hand, even one committed meanwhile, is left alone unless ``by_hand_too``."""
    if not ids:
        return 0
    rows = Slot.objects.filter(pk__in=ids)
    if not by_hand_too:
        rows = rows.filter(planned_capacity__isnull=False)
    right = Greatest(Value(capacity), F("booked"))
    return rows.exclude(capacity=right, planned_capacity=capacity).update(
        capacity=right, planned_capacity=capacity
    )


def slots_ensure_window(port: Port) -> int:
    today = timezone.localtime(timezone.now(), port_zone(port)).date()
    return slots_ensure(port, today, today + timedelta(days=policy_of(port).window_days))


# --- which lane a declaration goes to

_LANE_BY_CATEGORY = {
    CargoCategory.AGRICULTURAL: LaneType.GREEN,
    CargoCategory.ENERGY: LaneType.ENERGY,
    CargoCategory.VEHICLES: LaneType.VEHICLE_EXPORT,
    CargoCategory.EMPTY: LaneType.EMPTY_RETURN,
}


def lane_direction_for(declaration: Declaration) -> str:
    return LaneDirection.OUTBOUND if declaration.direction == Direction.EXPORT else LaneDirection.INBOUND


def lanes_for(declaration: Declaration) -> list[Lane]:
    """The lanes a declaration may book: its category's lane, or general cargo where the port
    has none. A red-channel declaration goes through general cargo, where the inspection is."""
    direction = lane_direction_for(declaration)
    lanes = [
        lane
        for lane in Lane.objects.filter(port_id=declaration.port_id, active=True)
        if lane.direction == direction
    ]
    wanted = _wanted_lane_type(declaration)
    chosen = [lane for lane in lanes if lane.type == wanted]
    return chosen or [lane for lane in lanes if lane.type == LaneType.GENERAL]


def _wanted_lane_type(declaration: Declaration) -> str:
    if declaration.channel == RiskChannel.RED:
        return LaneType.GENERAL
    return _LANE_BY_CATEGORY.get(declaration.cargo_category, LaneType.GENERAL)


def lane_allowed(declaration: Declaration, lane: Lane) -> bool:
    """``lane in lanes_for(declaration)``, reading the port's lanes only when general cargo
    stands in for a lane type the port may not have."""
    if (
        not lane.active
        or lane.port_id != declaration.port_id
        or lane.direction != lane_direction_for(declaration)
    ):
        return False
    wanted = _wanted_lane_type(declaration)
    if lane.type == wanted:
        return True
    return (
        lane.type == LaneType.GENERAL
        and not Lane.objects.filter(
            port_id=declaration.port_id, active=True, type=wanted, direction=lane.direction
        ).exists()
    )


# --- checks


def _refuse(message, code: str, **extra) -> ApplicationError:
    return ApplicationError(message, code=code, extra=extra)


def may_book(actor, declaration: Declaration) -> bool:
    """The firm's admins and dispatchers, or the driver named on the declaration."""
    if not actor.is_authenticated:
        return False
    known, role = declaration_selectors.role_known(declaration, actor)
    if not known:
        role = (
            Membership.objects.filter(user=actor, organisation_id=declaration.organisation_id)
            .values_list("role", flat=True)
            .first()
        )
    if role in BOOKING_ROLES:
        return True
    return declaration.driver_id is not None and declaration.driver.user_id == actor.pk


def require_may_book(actor, declaration: Declaration) -> None:
    if not may_book(actor, declaration):
        raise PermissionDenied(
            _("Only the firm's admins and dispatchers and the declaration's driver can book.")
        )


def _local(moment: datetime, port: Port) -> str:
    """Port time in digits, the same in every language and short enough for an SMS."""
    return timezone.localtime(moment, port_zone(port)).strftime("%d.%m.%Y %H:%M")


def _check_window(slot: Slot, policy: BookingPolicy, now: datetime) -> None:
    if slot.starts_at <= now:
        raise _refuse(_("This slot has already begun."), "slot_past")
    if slot.starts_at - timedelta(minutes=policy.cutoff_minutes) < now:
        raise _refuse(
            _("Booking closes %(minutes)s minutes before the slot.") % {"minutes": policy.cutoff_minutes},
            "after_cutoff",
        )
    if slot.starts_at > now + timedelta(days=policy.window_days):
        raise _refuse(
            _("Slots can be booked at most %(days)s days ahead.") % {"days": policy.window_days},
            "outside_window",
        )


def _check_declaration(declaration: Declaration, slot: Slot) -> None:
    if declaration.status not in BOOKABLE_DECLARATIONS:
        raise _refuse(
            _("Only a submitted or accepted declaration can be booked; this one is %(status)s.")
            % {"status": declaration.get_status_display().lower()},
            "declaration_not_bookable",
        )
    if declaration.vehicle_id is None:
        raise _refuse(_("The declaration names no vehicle."), "no_vehicle")
    if slot.port_id != declaration.port_id:
        raise _refuse(_("This slot is at another port than the declaration."), "wrong_port")
    if not lane_allowed(declaration, slot.lane):
        raise _refuse(_("This lane is not for this cargo."), "wrong_lane")


def _check_firm_standing(declaration: Declaration, slot: Slot, policy: BookingPolicy, now: datetime) -> None:
    if policy.no_show_limit is not None:
        no_shows = no_shows_of(declaration.organisation_id, slot.port_id)
        if no_shows >= policy.no_show_limit:
            raise _refuse(
                _(
                    "Your firm missed %(count)s booked slots at this port in the last 30 days; "
                    "new bookings are refused for now."
                )
                % {"count": no_shows},
                "no_show_limit",
                no_shows=no_shows,
            )
    if policy.firm_daily_quota is not None:
        zone = port_zone(slot.port)
        day = timezone.localtime(slot.starts_at, zone).date()
        start = datetime.combine(day, time(), tzinfo=zone)
        taken = Booking.objects.filter(
            organisation_id=declaration.organisation_id,
            port_id=slot.port_id,
            slot__starts_at__gte=start,
            slot__starts_at__lt=start + timedelta(days=1),
        ).exclude(status=BookingStatus.CANCELLED)
        if taken.count() >= policy.firm_daily_quota:
            raise _refuse(
                _("Your firm has used its %(quota)s bookings for that day.")
                % {"quota": policy.firm_daily_quota},
                "quota",
            )


def next_free(slot: Slot, *, count: int = 3, after: datetime | None = None) -> list[Slot]:
    after = max(after or timezone.now(), slot.starts_at)
    policy = policy_of(slot.port)
    earliest = timezone.now() + timedelta(minutes=policy.cutoff_minutes)
    return list(
        Slot.objects.filter(
            lane_id=slot.lane_id,
            starts_at__gte=max(after, earliest),
            starts_at__lte=timezone.now() + timedelta(days=policy.window_days),
            booked__lt=F("capacity"),
        )
        .exclude(pk=slot.pk)
        .order_by("starts_at")[:count]
    )


def _full(slot: Slot) -> ApplicationError:
    offers = next_free(slot)
    return _refuse(
        _("This slot is full."),
        "slot_full",
        next_free=[
            {"slot": s.pk, "starts_at": s.starts_at.isoformat(), "free": s.capacity - s.booked}
            for s in offers
        ],
    )


def _take_place(slot: Slot) -> None:
    """Take one place in the slot, or raise "full"; inside the caller's transaction.

    One conditional UPDATE: the row lock it takes is held only from here to the commit,
    so callers do everything else first. On PostgreSQL a racer blocked on the row re-checks
    ``booked < capacity`` against the committed row once it gets it."""
    if not LOCK_CAPACITY:  # the race, for the negative control only: read, then write
        current = Slot.objects.values_list("booked", "capacity").get(pk=slot.pk)
        if current[0] >= current[1]:
            raise _full(slot)
        Slot.objects.filter(pk=slot.pk).update(booked=current[0] + 1)
        return
    if not Slot.objects.filter(pk=slot.pk, booked__lt=F("capacity")).update(booked=F("booked") + 1):
        raise _full(slot)


def _give_back(slot_id: int) -> None:
    """One place back; in a slot a changed plan left bigger than it now gives (or closed),
    the place goes with it, so a closed day does not reopen when a truck moves away."""
    Slot.objects.filter(pk=slot_id, booked__gt=0).update(
        booked=F("booked") - 1,
        capacity=Case(
            When(
                planned_capacity__isnull=False,
                capacity__gt=F("planned_capacity"),
                then=Greatest(F("planned_capacity"), F("booked") - 1),
            ),
            default=F("capacity"),
        ),
    )


# --- passes


def pass_issue(booking: Booking) -> Pass:
    """A new pass for the booking, in the caller's transaction."""
    nonce = passes.new_nonce()
    token = passes.sign(
        passes.Claims(
            port_code=booking.port.code,
            booking_id=booking.pk,
            valid_from=booking.slot.starts_at,
            valid_until=booking.slot.ends_at,
            nonce=nonce,
        )
    )
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Pass.objects.create(
                    booking=booking,
                    nonce=nonce,
                    short_code=passes.new_short_code(),
                    token=token,
                    valid_from=booking.slot.starts_at,
                    valid_until=booking.slot.ends_at,
                )
        except IntegrityError:  # a short code already taken: draw again
            continue
    raise RuntimeError("Could not draw a free short code.")


def _revoke_passes(booking: Booking) -> None:
    Pass.objects.filter(booking=booking, revoked_at__isnull=True).update(revoked_at=timezone.now())


def live_pass(booking: Booking) -> Pass | None:
    return Pass.objects.filter(booking=booking, revoked_at__isnull=True).first()


# --- notifications


def _audience(booking: Booking) -> list[int]:
    people = {booking.created_by_id}
    if booking.driver_id:
        people.add(booking.driver.user_id)
    return sorted(people)


def _tell(
    event: str, booking: Booking, *, key: str = "", later: bool = False, live: Pass | None = None, **context
) -> None:
    """Tell the booker and the driver. ``later``: from a request that must stay short, the
    message is recorded and written by a worker (``notify_later``); ``live``: the pass just
    issued, when the caller has it."""
    if live is None:
        live = live_pass(booking)
    context = {
        "plate": booking.vehicle.plate,
        "port": booking.port.name_en,
        "slot": _local(booking.slot.starts_at, booking.port),
        "lane": str(booking.slot.lane.name),
        "code": passes.format_short_code(live.short_code) if live else "",
        "pass_path": reverse("bookings:pass", args=[booking.pk]),
        "short_pass_path": reverse("bookings:pass_short", args=[booking.pk]),
        **context,
    }
    recipients = _audience(booking)
    if later:
        notify_later(
            event,
            booking,
            recipients=recipients,
            organisation=booking.organisation_id,
            context=context,
            key=key,
        )
    else:
        notify(
            event, booking, recipients=recipients, organisation=booking.organisation, context=context, key=key
        )


# --- book, move, cancel


def _reminded_by_confirmation(slot: Slot, policy: BookingPolicy, now: datetime) -> datetime | None:
    """A slot already inside the reminder window: the confirmation is the reminder."""
    return now if slot.starts_at - timedelta(minutes=policy.reminder_minutes) <= now else None


def _declaration_to_book(actor, declaration: Declaration) -> Declaration:
    """The declaration as the selector read it for this actor in this request (with the
    actor's role), else read again with it."""
    if declaration_selectors.role_known(declaration, actor)[0]:
        return declaration
    return declaration_selectors.with_role_of(actor, declaration.pk, ("driver", "vehicle", "port"))


def _vehicle_booked() -> ApplicationError:
    return _refuse(_("This vehicle already has a booking at this port."), "vehicle_booked")


@transaction.atomic
def booking_create(*, actor, declaration: Declaration, slot: Slot | int) -> Booking:
    """Book ``slot`` for the declaration's vehicle, with a pass, and tell the booker and the
    driver. A full slot, or any refusal, changes nothing.

    Cheap checks first, with what two reads brought (the declaration with the actor's role,
    the slot with its lane, port and policy); a slot already full is refused before any
    write. The place itself is taken last (``_take_place``), which is what makes the answer
    exact under a rush: the early "full" is only a shortcut."""
    declaration = _declaration_to_book(actor, declaration)
    require_may_book(actor, declaration)
    slot = Slot.objects.select_related("port__booking_policy", "lane").get(pk=getattr(slot, "pk", slot))
    policy = policy_of(slot.port)
    now = timezone.now()
    _check_declaration(declaration, slot)
    _check_window(slot, policy, now)
    if slot.booked >= slot.capacity:
        # The truck's own reason first: offers of other slots would not help it.
        if Booking.objects.filter(
            vehicle_id=declaration.vehicle_id, port_id=declaration.port_id, status__in=HOLDING
        ).exists():
            raise _vehicle_booked()
        raise _full(slot)
    _check_firm_standing(declaration, slot, policy, now)
    if policy.firm_daily_quota is not None:
        # The quota is capacity too: one booking of the firm at a time past this point.
        type(declaration.organisation).objects.select_for_update().filter(
            pk=declaration.organisation_id
        ).first()
        _check_firm_standing(declaration, slot, policy, now)
    booking = Booking(
        port=slot.port,
        slot=slot,
        organisation_id=declaration.organisation_id,
        declaration=declaration,
        vehicle_id=declaration.vehicle_id,
        vehicle=declaration.vehicle,
        driver=declaration.driver,
        created_by=actor,
        reminded_at=_reminded_by_confirmation(slot, policy, now),
    )
    try:
        # No savepoint: a refusal rolls the whole booking back anyway.
        booking.save(force_insert=True)
    except IntegrityError:
        # One active booking per vehicle and port (the booking's only unique constraint;
        # its foreign keys are checked at commit): the constraint rather than a read before,
        # so two bookings of one truck at the same moment cannot both pass.
        raise _vehicle_booked() from None
    issued = pass_issue(booking)
    booking.live_pass = issued
    _tell("booking.confirmed", booking, later=True, live=issued)
    # Last, so the slot's row is locked for as short a time as possible; "full" rolls
    # back the booking, its pass and its notifications.
    _take_place(slot)
    slot.booked += 1
    return booking


def _holding_booking(booking: Booking) -> Booking:
    return Booking.objects.select_for_update().select_related("slot", "port", "vehicle").get(pk=booking.pk)


@transaction.atomic
def booking_move(*, actor, booking: Booking, slot: Slot) -> Booking:
    """Take the new place and give back the old one in one transaction: if the new slot is
    full, the old place is kept."""
    require_may_book(actor, booking.declaration)
    booking = _holding_booking(booking)
    if booking.status != BookingStatus.ACTIVE:
        raise _refuse(_("Only an active booking can be moved."), "not_active")
    slot = Slot.objects.select_related("port", "lane").get(pk=slot.pk)
    if slot.pk == booking.slot_id:
        raise _refuse(_("This is the slot you already have."), "same_slot")
    policy = policy_of(slot.port)
    now = timezone.now()
    if booking.slot.starts_at - timedelta(minutes=policy.cutoff_minutes) < now:
        raise _refuse(_("It is too late to change this booking."), "after_cutoff")
    _check_declaration(booking.declaration, slot)
    _check_window(slot, policy, now)
    old_slot_id = booking.slot_id
    booking.slot = slot
    booking.reminded_at = _reminded_by_confirmation(slot, policy, now)
    booking.save(update_fields=["slot", "reminded_at", "updated_at"])
    _revoke_passes(booking)
    issued = pass_issue(booking)
    _tell("booking.moved", booking, key=issued.nonce, later=True, live=issued)
    # Both slot rows last and in id order, so two moves in opposite directions cannot
    # deadlock; "full" rolls everything back and the old place is kept.
    for slot_id in sorted((old_slot_id, slot.pk)):
        if slot_id == slot.pk:
            _take_place(slot)
        else:
            _give_back(old_slot_id)
    return booking


@transaction.atomic
def booking_cancel(*, actor, booking: Booking) -> Booking:
    require_may_book(actor, booking.declaration)
    booking = _holding_booking(booking)
    if booking.status != BookingStatus.ACTIVE:
        raise _refuse(_("Only an active booking can be cancelled."), "not_active")
    policy = policy_of(booking.port)
    if booking.slot.starts_at - timedelta(minutes=policy.cutoff_minutes) < timezone.now():
        raise _refuse(_("It is too late to cancel this booking."), "after_cutoff")
    updated = Booking.objects.filter(pk=booking.pk, status=BookingStatus.ACTIVE).update(
        status=BookingStatus.CANCELLED, cancelled_at=timezone.now(), updated_at=timezone.now()
    )
    if updated:
        _give_back(booking.slot_id)
        _revoke_passes(booking)
        booking.refresh_from_db()
        _tell("booking.cancelled", booking, later=True)
    return booking


def no_shows_of(organisation_id: int, port_id: int, *, days: int = 30) -> int:
    return Booking.objects.filter(
        organisation_id=organisation_id,
        port_id=port_id,
        status=BookingStatus.NO_SHOW,
        slot__starts_at__gte=timezone.now() - timedelta(days=days),
    ).count()
