"""Booking rules: who, what, when, where; move and cancel; every refusal changes nothing."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingPolicy, BookingStatus, CapacityException, Pass, Slot
from declarations import services as declaration_services
from declarations.models import RiskRule
from portal.errors import ApplicationError
from tests.bookings.conftest import port_day, slot_at

pytestmark = pytest.mark.django_db


def _state():
    return (
        list(Booking.objects.order_by("pk").values_list("pk", "status", "slot_id")),
        list(Slot.objects.filter(booked__gt=0).values_list("pk", "booked")),
        list(Pass.objects.order_by("pk").values_list("pk", "revoked_at")),
    )


def _refused(code, **kwargs):
    before = _state()
    with pytest.raises(ApplicationError) as error:
        services.booking_create(**kwargs)
    assert error.value.code == code
    assert error.value.message
    assert _state() == before
    return error.value


def test_a_dispatcher_books_and_gets_a_pass(firm_a, submitted, energy_slot, sms_outbox):
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    energy_slot.refresh_from_db()
    assert (booking.status, booking.vehicle, booking.slot, energy_slot.booked) == (
        "active",
        firm_a.vehicle,
        energy_slot,
        1,
    )
    live = services.live_pass(booking)
    assert len(live.short_code) == 10
    assert (live.valid_from, live.valid_until) == (energy_slot.starts_at, energy_slot.ends_at)


def test_the_declarations_driver_may_book_its_vehicle(firm_a, submitted, energy_slot):
    booking = services.booking_create(actor=firm_a.driver, declaration=submitted, slot=energy_slot)
    assert booking.created_by == firm_a.driver


@pytest.mark.parametrize("who", ["declarant", "admin_b", "driver_b"])
def test_others_may_not_book(firm_a, firm_b, submitted, energy_slot, who):
    actor = {"declarant": firm_a.declarant, "admin_b": firm_b.admin, "driver_b": firm_b.driver}[who]
    with pytest.raises(PermissionDenied):
        services.booking_create(actor=actor, declaration=submitted, slot=energy_slot)
    assert Booking.objects.count() == 0


def test_a_draft_or_rejected_declaration_cannot_be_booked(firm_a, draft, energy_slot, officer_x):
    _refused("declaration_not_bookable", actor=firm_a.dispatcher, declaration=draft, slot=energy_slot)
    declaration_services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=99.9)
    declaration_services.declaration_reject(officer=officer_x, declaration=draft, reason="Fake invoice")
    _refused("declaration_not_bookable", actor=firm_a.dispatcher, declaration=draft, slot=energy_slot)


def test_the_lane_must_fit_the_cargo_and_the_port_the_declaration(firm_a, submitted, khorgos):
    green = slot_at(khorgos, "green", port_day(khorgos), 10)
    _refused("wrong_lane", actor=firm_a.dispatcher, declaration=submitted, slot=green)
    from portal.models import Port

    takshken = Port.objects.get(code="TKS")
    elsewhere = slot_at(takshken, "energy", port_day(takshken), 10)
    _refused("wrong_port", actor=firm_a.dispatcher, declaration=submitted, slot=elsewhere)


def test_red_channel_goes_through_general_cargo(firm_a, draft, khorgos):
    RiskRule.objects.create(order=1, name="Coal check", hs_chapter="27", channel="red", reason="Coal check")
    declaration_services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=0)
    draft.refresh_from_db()
    assert draft.channel == "red"
    assert [lane.type for lane in services.lanes_for(draft)] == ["general"]


def test_window_cutoff_and_past(firm_a, submitted, khorgos):
    policy = services.policy_of(khorgos)
    far = slot_at(khorgos, "energy", port_day(khorgos, policy.window_days + 2), 10)
    _refused("outside_window", actor=firm_a.dispatcher, declaration=submitted, slot=far)
    now = timezone.now()
    today = port_day(khorgos, 0)
    services.slots_ensure(khorgos, today - timedelta(days=1), today)
    lane_slots = Slot.objects.filter(lane__type="energy", port=khorgos)
    past = lane_slots.filter(starts_at__lt=now).order_by("-starts_at").first()
    _refused("slot_past", actor=firm_a.dispatcher, declaration=submitted, slot=past)
    soon = lane_slots.filter(starts_at__gt=now).order_by("starts_at").first()
    _refused("after_cutoff", actor=firm_a.dispatcher, declaration=submitted, slot=soon)


def test_one_active_booking_per_vehicle_per_port(firm_a, submitted, energy_slot, khorgos):
    services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    copy = declaration_services.declaration_copy(actor=firm_a.declarant, declaration=submitted)
    copy.planned_arrival = submitted.planned_arrival
    copy.save()
    from tests.declarations.conftest import upload

    for kind in ("invoice", "cmr"):
        declaration_services.document_add(
            actor=firm_a.declarant, declaration=copy, kind=kind, upload=upload()
        )
    declaration_services.declaration_submit(actor=firm_a.declarant, declaration=copy, sample_draw=99.9)
    other = slot_at(khorgos, "energy", port_day(khorgos), 12)
    _refused("vehicle_booked", actor=firm_a.dispatcher, declaration=copy, slot=other)
    # A full slot does not hide the truck's own reason behind offers it could not take.
    Slot.objects.filter(pk=other.pk).update(booked=other.capacity)
    _refused("vehicle_booked", actor=firm_a.dispatcher, declaration=copy, slot=other)


def test_a_full_slot_offers_the_next_free_ones(firm_a, submitted, energy_slot):
    Slot.objects.filter(pk=energy_slot.pk).update(booked=energy_slot.capacity)
    error = _refused("slot_full", actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    offers = error.extra["next_free"]
    assert len(offers) == 3
    starts = [o["starts_at"] for o in offers]
    assert starts == sorted(starts)
    assert all(s > energy_slot.starts_at.isoformat() for s in starts)


def test_the_firm_daily_quota(firm_a, submitted, energy_slot, khorgos):
    BookingPolicy.objects.filter(port=khorgos).update(firm_daily_quota=0)
    _refused("quota", actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)


def test_too_many_no_shows_stop_new_bookings(firm_a, submitted, energy_slot, khorgos):
    BookingPolicy.objects.filter(port=khorgos).update(no_show_limit=1)
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.NO_SHOW)
    other = slot_at(khorgos, "energy", port_day(khorgos), 14)
    error = _refused("no_show_limit", actor=firm_a.dispatcher, declaration=submitted, slot=other)
    assert error.extra == {"no_shows": 1}


def test_move_takes_the_new_place_gives_back_the_old_and_replaces_the_pass(
    firm_a, submitted, energy_slot, khorgos
):
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    first_pass = services.live_pass(booking)
    later = slot_at(khorgos, "energy", port_day(khorgos), 15)
    services.booking_move(actor=firm_a.driver, booking=booking, slot=later)
    energy_slot.refresh_from_db()
    later.refresh_from_db()
    booking.refresh_from_db()
    assert (booking.slot_id, energy_slot.booked, later.booked) == (later.pk, 0, 1)
    first_pass.refresh_from_db()
    assert first_pass.revoked_at is not None
    new_pass = services.live_pass(booking)
    assert new_pass.pk != first_pass.pk
    assert new_pass.valid_from == later.starts_at


def test_move_to_a_full_slot_keeps_the_old_place(firm_a, submitted, energy_slot, khorgos):
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    full = slot_at(khorgos, "energy", port_day(khorgos), 16)
    Slot.objects.filter(pk=full.pk).update(booked=full.capacity)
    before = _state()
    with pytest.raises(ApplicationError) as error:
        services.booking_move(actor=firm_a.dispatcher, booking=booking, slot=full)
    assert error.value.code == "slot_full"
    assert _state() == before


def test_cancel_gives_the_place_back_and_revokes_the_pass(firm_a, submitted, energy_slot):
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    services.booking_cancel(actor=firm_a.dispatcher, booking=booking)
    energy_slot.refresh_from_db()
    assert (Booking.objects.get().status, energy_slot.booked) == ("cancelled", 0)
    assert services.live_pass(booking) is None
    with pytest.raises(ApplicationError) as error:
        services.booking_cancel(actor=firm_a.dispatcher, booking=booking)
    assert error.value.code == "not_active"
    energy_slot.refresh_from_db()
    assert energy_slot.booked == 0


def test_cancel_after_the_cutoff_is_refused(firm_a, submitted, energy_slot):
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    start = timezone.now() + timedelta(minutes=10)
    Slot.objects.filter(pk=energy_slot.pk).update(starts_at=start, ends_at=start + timedelta(hours=1))
    with pytest.raises(ApplicationError) as error:
        services.booking_cancel(actor=firm_a.dispatcher, booking=booking)
    assert error.value.code == "after_cutoff"
    assert Booking.objects.get().status == "active"


def test_closed_days_and_capacity_exceptions(khorgos):
    from bookings.models import Lane

    day = port_day(khorgos, 3)
    energy = Lane.objects.get(port=khorgos, type="energy")
    CapacityException.objects.create(port=khorgos, lane=energy, date=day, capacity=3)
    CapacityException.objects.create(port=khorgos, date=day + timedelta(days=1), closed=True)
    services.slots_ensure(khorgos, day, day + timedelta(days=1))
    assert set(Slot.objects.filter(lane=energy).values_list("capacity", flat=True)) == {3}
    assert Slot.objects.filter(lane=energy).count() == 24
    assert Slot.objects.filter(port=khorgos).count() == 24 * 6


def test_a_booking_inside_the_reminder_window_is_not_reminded_again(firm_a, submitted, energy_slot, khorgos):
    BookingPolicy.objects.filter(port=khorgos).update(reminder_minutes=3 * 24 * 60)
    booking = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    assert booking.reminded_at is not None
    BookingPolicy.objects.filter(port=khorgos).update(reminder_minutes=30)
    khorgos.refresh_from_db()
    later = slot_at(khorgos, "energy", port_day(khorgos), 18)
    services.booking_move(actor=firm_a.dispatcher, booking=booking, slot=later)
    booking.refresh_from_db()
    assert booking.reminded_at is None


def test_slots_ensure_counts_only_what_it_created(khorgos):
    day = port_day(khorgos, 2)
    assert services.slots_ensure(khorgos, day, day) == 24 * 6
    assert services.slots_ensure(khorgos, day, day) == 0
