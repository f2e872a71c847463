"""A changed plan reaches the slots already made for the coming days: a new lane capacity,
a closed day and its reopening, shorter hours, another slot length. Never fewer places than
are booked, a slot set by hand keeps its capacity, what has begun is left alone; the back
office applies it on save and says what changed."""

import itertools
import threading
import time as time_module
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bookings import operations, selectors, services
from bookings.models import Booking, BookingPolicy, CapacityException, Lane, OpeningHours, Slot
from portal import roles
from portal.errors import ApplicationError
from portal.models import AuditEvent, Port
from tests.bookings.conftest import port_day, slot_at
from tests.bookings.test_concurrency import _declarations
from tests.factories import officer

pytestmark = pytest.mark.django_db


def _energy(port):
    return Lane.objects.get(port=port, type="energy", direction="inbound")


def _capacities(lane, day):
    zone = services.port_zone(lane.port)
    start = datetime.combine(day, time(), tzinfo=zone)
    slots = Slot.objects.filter(lane=lane, starts_at__gte=start, starts_at__lt=start + timedelta(days=1))
    return list(slots.order_by("starts_at").values_list("capacity", flat=True))


def _overlapping(lane):
    slots = list(Slot.objects.filter(lane=lane).order_by("starts_at").values_list("starts_at", "ends_at"))
    return [(a, b) for a, b in itertools.pairwise(slots) if b[0] < a[1]]


def test_a_new_lane_capacity_reaches_the_slots_made_but_not_one_set_by_hand_or_begun(khorgos, firm_a):
    lane = _energy(khorgos)
    tomorrow, later = port_day(khorgos, 1), port_day(khorgos, 3)
    services.slots_ensure(khorgos, port_day(khorgos, -1), port_day(khorgos, 0))
    services.slots_ensure_window(khorgos)
    begun = Slot.objects.filter(lane=lane, starts_at__lte=timezone.now()).order_by("-starts_at").first()
    by_hand = slot_at(khorgos, "energy", tomorrow, 9)
    operations.slot_capacity_set(actor=firm_a.dispatcher, slot=by_hand, capacity=7)
    other_lane = Lane.objects.exclude(pk=lane.pk).filter(port=khorgos).first()
    others = _capacities(other_lane, tomorrow)
    future = Slot.objects.filter(lane=lane, starts_at__gt=timezone.now()).count()

    Lane.objects.filter(pk=lane.pk).update(capacity=lane.capacity + 10)
    result = services.slots_replan(khorgos)

    assert (result.removed, result.created, result.held) == (0, 0, 0)
    assert result.changed == future - 1  # all but the one set by hand
    assert set(_capacities(lane, later)) == {lane.capacity + 10}
    assert Slot.objects.get(pk=by_hand.pk).capacity == 7
    assert Slot.objects.get(pk=begun.pk).capacity == begun.capacity
    assert _capacities(other_lane, tomorrow) == others
    assert services.slots_replan(khorgos).changed == 0  # applied once is applied


def test_a_smaller_lane_never_drops_below_what_is_booked(khorgos):
    lane = _energy(khorgos)
    slot = slot_at(khorgos, "energy", port_day(khorgos, 2), 10)
    Slot.objects.filter(pk=slot.pk).update(booked=5)
    Lane.objects.filter(pk=lane.pk).update(capacity=2)
    result = services.slots_replan(khorgos)
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (5, 5)
    assert result.held == 3
    assert set(_capacities(lane, port_day(khorgos, 2))) == {2, 5}


def test_closing_a_day_removes_its_empty_slots_keeps_the_booked_one_full_and_reopening_restores_it(
    khorgos, firm_a, submitted
):
    day = port_day(khorgos, 2)
    lane = _energy(khorgos)
    slot = slot_at(khorgos, "energy", day, 10)
    cancelled = slot_at(khorgos, "energy", day, 12)
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=cancelled)
    services.booking_cancel(actor=firm_a.dispatcher, booking=booking)
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=slot)

    exception = CapacityException.objects.create(port=khorgos, date=day, closed=True, reason="Holiday")
    result = services.slots_replan(khorgos)

    # Every lane's 24 slots go, but the booked one and the one a cancelled booking still names.
    assert result.removed == 6 * 24 - 2
    assert result.held == 1
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (1, 1)
    assert Slot.objects.values_list("capacity", "booked").get(pk=cancelled.pk) == (0, 0)
    assert Booking.objects.get(pk=booking.pk).status == "active"  # the booking stands
    day_grid = selectors.availability(khorgos, [lane], day)
    assert not any(cell.bookable for lane_day in day_grid for cell in lane_day.cells)
    other = _declarations(firm_a, khorgos, 1)[0]
    with pytest.raises(ApplicationError) as refused:
        services.booking_create(actor=firm_a.dispatcher, declaration=other, slot=slot)
    assert refused.value.code == "slot_full"

    exception.delete()
    result = services.slots_replan(khorgos)
    assert result.created == 6 * 24 - 2
    assert _capacities(lane, day) == [lane.capacity] * 24
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (lane.capacity, 1)


def test_shorter_hours_take_away_the_slots_outside_them():
    port = Port.objects.get(code="TKS")
    assert not port.open_24h
    day = port_day(port, 2)
    lane = Lane.objects.filter(port=port, active=True).first()
    services.slots_ensure(port, day, day)
    assert len(_capacities(lane, day)) == 12  # 08:00 to 20:00
    OpeningHours.objects.filter(port=port, weekday=day.weekday()).update(closes=time(14))
    result = services.slots_replan(port)
    assert len(_capacities(lane, day)) == 6
    assert result.removed == 6 * Lane.objects.filter(port=port, active=True).count()


def test_a_new_slot_length_replaces_the_empty_slots_and_keeps_the_booked_hour(khorgos):
    day = port_day(khorgos, 2)
    lane = _energy(khorgos)
    booked = slot_at(khorgos, "energy", day, 10)
    Slot.objects.filter(pk=booked.pk).update(booked=2)
    BookingPolicy.objects.filter(port=khorgos).update(slot_minutes=30)
    khorgos = Port.objects.get(pk=khorgos.pk)
    services.slots_replan(khorgos)
    zone = services.port_zone(khorgos)
    start = datetime.combine(day, time(), tzinfo=zone)
    slots = list(
        Slot.objects.filter(lane=lane, starts_at__gte=start, starts_at__lt=start + timedelta(days=1))
        .order_by("starts_at")
        .values_list("starts_at", "ends_at", "capacity")
    )
    # 46 half hours, and the booked hour 10:00 to 11:00 as it was, full.
    assert len(slots) == 47
    assert (booked.starts_at, booked.ends_at, 2) in slots
    assert all(end - begin == timedelta(minutes=30) for begin, end, _c in slots if begin != booked.starts_at)
    assert _overlapping(lane) == []


def test_saving_a_lane_in_the_back_office_applies_the_plan_and_says_what_changed(admin_as):
    khorgos = Port.objects.get(code="KHG")
    operator = officer(roles.PORT_OPERATOR, ["KHG"])
    lane = _energy(khorgos)
    day = port_day(khorgos, 2)
    slot = slot_at(khorgos, "energy", day, 10)
    Slot.objects.filter(pk=slot.pk).update(booked=4)
    client = admin_as(operator)
    url = reverse("admin:bookings_lane_change", args=[lane.pk])
    form = {
        "name": lane.name,
        "type": lane.type,
        "direction": lane.direction,
        "capacity": "3",
        "active": "on",
        "position": lane.position,
    }
    response = client.post(url, form, follow=True)
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert any("KHG: slots of the coming days follow the plan: 24 changed" in text for text in shown), shown
    assert any(text.startswith("1 booked place is in a slot the plan now closes") for text in shown), shown
    assert set(_capacities(lane, day)) == {3, 4}
    applied = AuditEvent.objects.get(action="plan.applied")
    assert (applied.actor, applied.data["changed"], applied.data["held"]) == (operator, 24, 1)


def test_an_operator_of_another_port_changes_nothing(admin_as):
    khorgos = Port.objects.get(code="KHG")
    stranger = officer(roles.PORT_OPERATOR, ["TKS"])
    lane = _energy(khorgos)
    slot = slot_at(khorgos, "energy", port_day(khorgos, 2), 10)
    client = admin_as(stranger)
    url = reverse("admin:bookings_lane_change", args=[lane.pk])
    response = client.post(
        url, {"name": lane.name, "type": lane.type, "direction": lane.direction, "capacity": "1"}
    )
    assert response.status_code == 404
    assert Slot.objects.get(pk=slot.pk).capacity == slot.capacity
    assert not AuditEvent.objects.filter(action="plan.applied").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_plan_applied_during_a_rush_never_leaves_a_slot_below_its_bookings(firm_a):
    khorgos = Port.objects.get(code="KHG")
    lane = _energy(khorgos)
    slot = slot_at(khorgos, "energy", port_day(khorgos, 2), 10)
    # The operator halves the lane while 30 trucks race for the slot's 30 places.
    Slot.objects.filter(pk=slot.pk).update(capacity=30)
    Lane.objects.filter(pk=lane.pk).update(capacity=15)
    declarations = _declarations(firm_a, khorgos, 30)
    barrier = threading.Barrier(len(declarations) + 1)
    outcomes = []

    def book(declaration):
        barrier.wait()
        try:
            services.booking_create(actor=firm_a.dispatcher, declaration=declaration, slot=slot)
            outcomes.append("booked")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    def replan():
        barrier.wait()
        try:
            # Once the slot holds more than the new plan gives, while the rest still book.
            deadline = time_module.monotonic() + 10
            while Slot.objects.get(pk=slot.pk).booked <= 15 and time_module.monotonic() < deadline:
                time_module.sleep(0.005)
            for _ in range(10):
                services.slots_replan(khorgos)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(d,)) for d in declarations]
    threads.append(threading.Thread(target=replan))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    booked = Booking.objects.filter(slot=slot).count()
    assert outcomes.count("booked") == booked >= 1
    capacity, counted = Slot.objects.values_list("capacity", "booked").get(pk=slot.pk)
    assert counted == booked and capacity >= booked
    assert set(outcomes) <= {"booked", "slot_full"}
    # The last replan saw every booking the rush made: the capacity is what is booked.
    services.slots_replan(khorgos)
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (booked, booked)


def test_a_closed_day_stays_closed_when_its_bookings_leave_and_a_smaller_slot_shrinks_as_they_do(
    khorgos, firm_a, submitted
):
    day = port_day(khorgos, 2)
    slot = slot_at(khorgos, "energy", day, 10)
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=slot)
    CapacityException.objects.create(port=khorgos, date=day, closed=True)
    services.slots_replan(khorgos)
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (1, 1)
    services.booking_cancel(actor=firm_a.dispatcher, booking=booking)
    # The place went back with the truck: nobody can book the closed day.
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (0, 0)
    grid = selectors.availability(khorgos, [_energy(khorgos)], day)
    assert not any(cell.bookable for lane_day in grid for cell in lane_day.cells)

    # Made smaller below its bookings: each place given back takes the capacity down to the plan.
    other = slot_at(khorgos, "energy", port_day(khorgos, 3), 10)
    Slot.objects.filter(pk=other.pk).update(booked=4)
    Lane.objects.filter(pk=other.lane_id).update(capacity=2)
    services.slots_replan(khorgos)
    steps = []
    for _ in range(4):
        services._give_back(other.pk)
        steps.append(Slot.objects.values_list("capacity", "booked").get(pk=other.pk))
    assert steps == [(3, 3), (2, 2), (2, 1), (2, 0)]
    # A slot set by hand is not taken down.
    operations.slot_capacity_set(actor=firm_a.dispatcher, slot=other, capacity=9)
    Slot.objects.filter(pk=other.pk).update(booked=5)
    services._give_back(other.pk)
    assert Slot.objects.values_list("capacity", "booked").get(pk=other.pk) == (9, 4)


def test_hours_past_midnight_are_replanned_without_adding_days():
    port = Port.objects.get(code="TKS")
    OpeningHours.objects.filter(port=port).update(opens=time(20), closes=time(2))
    services.slots_ensure_window(port)
    made = Slot.objects.filter(port=port).count()
    first = services.slots_replan(port)
    again = services.slots_replan(port)
    assert (again.changed, again.removed, again.created) == (0, 0, 0)
    assert Slot.objects.filter(port=port).count() == made + first.created - first.removed
    lanes = Lane.objects.filter(port=port, active=True).count()
    assert all(_overlapping(lane) == [] for lane in Lane.objects.filter(port=port))
    # Six slots a night per lane, for the window's nights at most.
    window = BookingPolicy.objects.get(port=port).window_days
    assert Slot.objects.filter(port=port).count() <= 6 * lanes * (window + 1)
