"""The bookings API: availability, book, move, cancel, the pass as SVG and PNG; every endpoint
for every persona; refusals in the one error shape that change nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings import passes, qr, services
from bookings.models import Booking, BookingPolicy, BookingStatus, Lane, Pass, Slot
from declarations import services as declaration_services
from tests import factories
from tests.bookings.conftest import port_day, slot_at
from tests.conftest import PERSONA_NAMES as PERSONAS

pytestmark = pytest.mark.django_db

SEE_DECLARATION = {"admin_a", "declarant_a", "dispatcher_a", "driver_a", "officer_x"}
BOOK = {"admin_a", "dispatcher_a", "driver_a"}
SEE_BOOKING = {"admin_a", "declarant_a", "dispatcher_a", "driver_a"}
MEMBERS_A = {"admin_a", "declarant_a", "dispatcher_a"}
SIGNED_IN = set(PERSONAS) - {"anonymous"}


def expected(persona, allowed, seen, ok):
    if persona == "anonymous":
        return 401
    if persona in allowed:
        return ok
    if persona in seen:
        return 403
    return 404


def _state():
    return (
        list(Booking.objects.order_by("pk").values_list("pk", "status", "slot_id")),
        list(Slot.objects.filter(booked__gt=0).order_by("pk").values_list("pk", "booked")),
        list(Pass.objects.order_by("pk").values_list("pk", "revoked_at")),
    )


def _day(slot):
    return timezone.localtime(slot.starts_at, services.port_zone(slot.port)).date().isoformat()


@pytest.fixture
def booking(firm_a, submitted, energy_slot):
    return services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)


def _refused(response, status, code):
    assert (response.status_code, response.data["code"]) == (status, code), response.data
    assert response.data["message"]
    return response.data


# --- the whole way


def test_book_by_api_from_availability_to_pass_move_and_cancel(api_as, firm_a, submitted, khorgos):
    api = api_as(firm_a.dispatcher)
    day = port_day(khorgos)
    free = api.get(reverse("api:declaration_availability", args=[submitted.pk]), {"day": day.isoformat()})
    assert free.status_code == 200
    assert (free.data["port"], free.data["time_zone"], free.data["day"]) == ("KHG", "Asia/Shanghai", str(day))
    [lane] = free.data["lanes"]
    assert (lane["lane"]["type"], lane["lane"]["direction"]) == ("energy", "inbound")
    slot = next(s for s in lane["slots"] if s["starts_at"].endswith("T02:00:00Z"))  # 10:00 at Khorgos
    assert (slot["free"], slot["capacity"], slot["bookable"]) == (20, 20, True)

    created = api.post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": slot["id"]}, format="json"
    )
    assert created.status_code == 201, created.data
    booking = Booking.objects.get()
    live = services.live_pass(booking)
    assert created.data["id"] == booking.pk
    assert (created.data["status"], created.data["plate"], created.data["slot"]["id"]) == (
        "active",
        firm_a.vehicle.plate,
        slot["id"],
    )
    assert created.data["live_pass"] == {
        "short_code": passes.format_short_code(live.short_code),
        "token": live.token,
        "valid_from": slot["starts_at"],
        "valid_until": slot["ends_at"],
        "svg_url": f"/api/v1/bookings/{booking.pk}/pass.svg",
        "png_url": f"/api/v1/bookings/{booking.pk}/pass.png",
        "page_url": f"/bookings/{booking.pk}/pass/",
    }
    assert passes.verify(created.data["live_pass"]["token"]).booking_id == booking.pk

    svg = api.get(created.data["live_pass"]["svg_url"])
    assert (svg.status_code, svg["Content-Type"]) == (200, "image/svg+xml")
    assert svg.content.decode() == qr.svg(live.token)
    png = api.get(created.data["live_pass"]["png_url"], HTTP_ACCEPT="image/png")
    assert (png.status_code, png["Content-Type"], png.content[:8]) == (200, "image/png", b"\x89PNG\r\n\x1a\n")

    after = api.get(reverse("api:declaration_availability", args=[submitted.pk]), {"day": day.isoformat()})
    assert next(s for s in after.data["lanes"][0]["slots"] if s["id"] == slot["id"])["free"] == 19

    later = slot_at(khorgos, "energy", day, 15)
    moved = api.post(reverse("api:booking_move", args=[booking.pk]), {"slot": later.pk}, format="json")
    assert moved.status_code == 200, moved.data
    assert moved.data["slot"]["id"] == later.pk
    assert moved.data["live_pass"]["token"] != live.token
    assert Pass.objects.get(pk=live.pk).revoked_at is not None

    cancelled = api.post(reverse("api:booking_cancel", args=[booking.pk]))
    assert cancelled.status_code == 200
    assert (cancelled.data["status"], cancelled.data["live_pass"]) == ("cancelled", None)
    assert cancelled.data["cancelled_at"]
    gone = api.get(reverse("api:booking_pass_svg", args=[booking.pk]))
    assert (gone.status_code, gone["Content-Type"]) == (404, "application/json")
    assert gone.data["message"] == "This booking has no valid pass."


def test_port_availability_by_lane(api_as, firm_b, khorgos):
    api = api_as(firm_b.dispatcher)
    day = port_day(khorgos, 2)
    url = reverse("api:port_availability", args=["khg"])
    every = api.get(url, {"day": day.isoformat()})
    assert [lane["lane"]["name"] for lane in every.data["lanes"]] == ["1", "2", "3", "4", "5", "6"]
    assert all(len(lane["slots"]) == 24 for lane in every.data["lanes"])
    green = Lane.objects.get(port=khorgos, type="green")
    one = api.get(url, {"day": day.isoformat(), "lane": green.pk})
    assert [lane["lane"]["id"] for lane in one.data["lanes"]] == [green.pk]
    _refused(api.get(url, {"lane": "999999"}), 400, "bad_lane")
    assert api.get(reverse("api:port_availability", args=["XXX"])).status_code == 404


@pytest.mark.parametrize("day", ["yesterday", "2001-01-01", "2999-01-01"])
def test_a_day_outside_the_window_is_refused(api_as, firm_a, submitted, day):
    data = _refused(
        api_as(firm_a.driver).get(reverse("api:declaration_availability", args=[submitted.pk]), {"day": day}),
        400,
        "bad_day",
    )
    assert set(data["extra"]) == {"first", "last"}


# --- who may do what


def _endpoints(firm_a, submitted, booking, khorgos):
    later = slot_at(khorgos, "energy", port_day(khorgos), 15)
    again = slot_at(khorgos, "energy", port_day(khorgos), 17)
    return [
        ("get", reverse("api:port_availability", args=["KHG"]), None, SIGNED_IN, set(), 200),
        (
            "get",
            reverse("api:declaration_availability", args=[submitted.pk]),
            None,
            SEE_DECLARATION,
            set(),
            200,
        ),
        (
            "get",
            reverse("api:firm_bookings", args=[firm_a.organisation.pk]),
            None,
            MEMBERS_A,
            {"driver_a"},
            200,
        ),
        ("get", reverse("api:booking", args=[booking.pk]), None, SEE_BOOKING, set(), 200),
        ("get", reverse("api:booking_pass_svg", args=[booking.pk]), None, SEE_BOOKING, set(), 200),
        ("get", reverse("api:booking_pass_png", args=[booking.pk]), None, SEE_BOOKING, set(), 200),
        ("post", reverse("api:booking_move", args=[booking.pk]), {"slot": later.pk}, BOOK, SEE_BOOKING, 200),
        ("post", reverse("api:booking_cancel", args=[booking.pk]), None, BOOK, SEE_BOOKING, 200),
        (
            "post",
            reverse("api:bookings"),
            {"declaration": submitted.pk, "slot": again.pk},
            BOOK,
            SEE_DECLARATION,
            201,
        ),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_endpoint_for_every_persona(personas, api_as, firm_a, submitted, booking, khorgos, persona):
    """Firm B and the officers see nothing of firm A's bookings (404); a declarant of A sees
    them but may not book (403); the anonymous caller gets 401; refusals change nothing."""
    api = api_as(personas[persona])
    endpoints = _endpoints(firm_a, submitted, booking, khorgos)
    before = _state()
    for method, url, data, allowed, seen, ok in endpoints:
        response = getattr(api, method)(url, data, format="json")
        assert response.status_code == expected(persona, allowed, seen, ok), (method, url, persona)
        if response.status_code >= 400:
            assert set(response.json()) == {"message", "code", "extra"}
    if persona in BOOK:
        statuses = list(Booking.objects.order_by("pk").values_list("status", flat=True))
        assert statuses == ["cancelled", "active"]
    else:
        assert _state() == before


def test_firm_b_does_not_learn_that_firm_as_booking_exists(api_as, firm_b, booking):
    api = api_as(firm_b.admin)
    there = api.get(reverse("api:booking", args=[booking.pk]))
    nowhere = api.get(reverse("api:booking", args=[booking.pk + 1000]))
    assert (there.status_code, there.data) == (nowhere.status_code, nowhere.data)


# --- refusals: each says why and changes nothing


def test_booking_another_firms_declaration_is_404(api_as, firm_b, submitted, energy_slot):
    before = _state()
    response = api_as(firm_b.dispatcher).post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": energy_slot.pk}, format="json"
    )
    _refused(response, 404, "not_found")
    assert _state() == before


def test_a_rejected_declaration_is_refused(api_as, firm_a, submitted, energy_slot, officer_x):
    declaration_services.declaration_reject(officer=officer_x, declaration=submitted, reason="Fake invoice")
    before = _state()
    response = api_as(firm_a.dispatcher).post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": energy_slot.pk}, format="json"
    )
    _refused(response, 400, "declaration_not_bookable")
    assert _state() == before


def test_a_slot_in_the_past_is_refused(api_as, firm_a, submitted, khorgos):
    today = port_day(khorgos, 0)
    services.slots_ensure(khorgos, today - timedelta(days=1), today)
    past = Slot.objects.filter(lane__type="energy", port=khorgos, starts_at__lt=timezone.now()).latest(
        "starts_at"
    )
    before = _state()
    response = api_as(firm_a.dispatcher).post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": past.pk}, format="json"
    )
    _refused(response, 400, "slot_past")
    assert _state() == before


def test_a_second_active_booking_for_the_vehicle_is_refused(api_as, firm_a, submitted, booking, khorgos):
    other = slot_at(khorgos, "energy", port_day(khorgos), 12)
    before = _state()
    response = api_as(firm_a.driver).post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": other.pk}, format="json"
    )
    _refused(response, 400, "vehicle_booked")
    assert _state() == before


def test_a_full_slot_offers_the_next_free_ones(api_as, firm_a, submitted, energy_slot):
    Slot.objects.filter(pk=energy_slot.pk).update(booked=energy_slot.capacity)
    before = _state()
    response = api_as(firm_a.driver).post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": energy_slot.pk}, format="json"
    )
    data = _refused(response, 400, "slot_full")
    assert [offer["slot"] for offer in data["extra"]["next_free"]] == [
        s.pk for s in services.next_free(energy_slot)
    ]
    assert _state() == before


def test_a_move_to_a_full_slot_keeps_the_old_place(api_as, firm_a, booking, khorgos, energy_slot):
    full = slot_at(khorgos, "energy", port_day(khorgos), 16)
    Slot.objects.filter(pk=full.pk).update(booked=full.capacity)
    before = _state()
    response = api_as(firm_a.dispatcher).post(
        reverse("api:booking_move", args=[booking.pk]), {"slot": full.pk}, format="json"
    )
    data = _refused(response, 400, "slot_full")
    assert len(data["extra"]["next_free"]) == 3
    assert _state() == before
    assert api_as(firm_a.dispatcher).get(reverse("api:booking", args=[booking.pk])).data["slot"]["id"] == (
        energy_slot.pk
    )


def test_an_unknown_slot_is_a_validation_error(api_as, firm_a, submitted):
    response = api_as(firm_a.driver).post(
        reverse("api:bookings"), {"declaration": submitted.pk, "slot": 999999}, format="json"
    )
    data = _refused(response, 400, "invalid")
    assert set(data["extra"]["fields"]) == {"slot"}
    assert Booking.objects.count() == 0


# --- lists


def test_the_firm_list_runs_a_fixed_number_of_queries(
    api_as, firm_a, booking, khorgos, django_assert_max_num_queries
):
    api = api_as(firm_a.admin)
    url = reverse("api:firm_bookings", args=[firm_a.organisation.pk])
    with django_assert_max_num_queries(20) as few:
        assert len(api.get(url).data) == 1
    for hour in range(6):
        slot = slot_at(khorgos, "energy", port_day(khorgos, 2), hour)
        other = Booking.objects.create(
            port=khorgos,
            slot=slot,
            organisation=firm_a.organisation,
            declaration=booking.declaration,
            vehicle=factories.VehicleFactory(organisation=firm_a.organisation),
            driver=booking.driver,
            created_by=firm_a.dispatcher,
            status=BookingStatus.ACTIVE if hour % 2 else BookingStatus.CANCELLED,
        )
        services.pass_issue(other)
    with django_assert_max_num_queries(len(few)):
        listed = api.get(url).data
    assert len(listed) == 7
    assert [b["live_pass"] is None for b in listed].count(True) == 3
    assert [b["status"] for b in api.get(url, {"status": "cancelled"}).data] == ["cancelled"] * 3


def test_availability_runs_a_fixed_number_of_queries_however_many_slots(
    api_as, firm_a, submitted, khorgos, django_assert_max_num_queries
):
    api = api_as(firm_a.driver)
    url = reverse("api:declaration_availability", args=[submitted.pk])
    hourly, half_hourly = port_day(khorgos, 1), port_day(khorgos, 2)
    api.get(url, {"day": hourly.isoformat()})  # the first look makes the day's slots
    BookingPolicy.objects.filter(port=khorgos).update(slot_minutes=30)
    api.get(url, {"day": half_hourly.isoformat()})
    with django_assert_max_num_queries(20) as few:
        assert len(api.get(url, {"day": hourly.isoformat()}).data["lanes"][0]["slots"]) == 24
    with django_assert_max_num_queries(len(few)):
        assert len(api.get(url, {"day": half_hourly.isoformat()}).data["lanes"][0]["slots"]) == 48
