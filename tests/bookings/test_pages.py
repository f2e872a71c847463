"""Booking pages for every persona: the day's grid, book, a full slot's offers, move, cancel,
the pass, my bookings; refusals change nothing; lists and the grid in a fixed number of queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import passes, services
from bookings.models import Booking, BookingPolicy, BookingStatus, Pass, Slot
from declarations import services as declaration_services
from tests import factories
from tests.bookings.conftest import port_day, slot_at
from tests.conftest import PERSONA_NAMES as PERSONAS

pytestmark = pytest.mark.django_db

# Who sees firm A's declaration, who may book it, who sees its bookings.
SEE_DECLARATION = {"admin_a", "declarant_a", "dispatcher_a", "driver_a", "officer_x"}
BOOK = {"admin_a", "dispatcher_a", "driver_a"}
SEE_BOOKING = {"admin_a", "declarant_a", "dispatcher_a", "driver_a"}
MEMBERS_A = {"admin_a", "declarant_a", "dispatcher_a"}


def expected(persona, allowed, seen, ok=200):
    if persona == "anonymous":
        return "login"
    if persona in allowed:
        return ok
    if persona in seen:
        return 403
    return 404


def _status(response):
    if response.status_code == 302 and "/accounts/login/" in response["Location"]:
        return "login"
    return response.status_code


def _state():
    return (
        list(Booking.objects.order_by("pk").values_list("pk", "status", "slot_id")),
        list(Slot.objects.filter(booked__gt=0).order_by("pk").values_list("pk", "booked")),
        list(Pass.objects.order_by("pk").values_list("pk", "revoked_at")),
    )


@pytest.fixture
def booking(firm_a, submitted, energy_slot):
    return services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)


def _day_param(slot):
    return timezone.localtime(slot.starts_at, services.port_zone(slot.port)).date().isoformat()


# --- who may open what


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_for_every_persona(personas, client_as, firm_a, submitted, booking, persona):
    client = client_as(personas[persona])
    pages = [
        (reverse("bookings:new", args=[submitted.pk]), BOOK, SEE_DECLARATION),
        (reverse("bookings:detail", args=[booking.pk]), SEE_BOOKING, set()),
        (reverse("bookings:pass", args=[booking.pk]), SEE_BOOKING, set()),
        (reverse("bookings:move", args=[booking.pk]), BOOK, SEE_BOOKING),
        (reverse("bookings:cancel", args=[booking.pk]), BOOK, SEE_BOOKING),
        (reverse("bookings:firm", args=[firm_a.organisation.pk]), MEMBERS_A, {"driver_a"}),
        (reverse("bookings:mine"), set(PERSONAS) - {"anonymous"}, set()),
    ]
    for url, allowed, seen in pages:
        assert _status(client.get(url)) == expected(persona, allowed, seen), (url, persona)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_action_for_every_persona(personas, client_as, firm_a, submitted, booking, khorgos, persona):
    """Who may book moves, cancels and books again; everyone else changes nothing."""
    client = client_as(personas[persona])
    later = slot_at(khorgos, "energy", port_day(khorgos), 15)
    again = slot_at(khorgos, "energy", port_day(khorgos), 17)
    before = _state()
    actions = [
        (reverse("bookings:move", args=[booking.pk]), {"slot": later.pk}, SEE_BOOKING),
        (reverse("bookings:cancel", args=[booking.pk]), {}, SEE_BOOKING),
        (reverse("bookings:new", args=[submitted.pk]), {"slot": again.pk}, SEE_DECLARATION),
    ]
    for url, data, seen in actions:
        response = client.post(url, data)
        assert _status(response) == expected(persona, BOOK, seen, ok=302), (url, persona)
    if persona in BOOK:
        statuses = list(Booking.objects.order_by("pk").values_list("status", "slot_id"))
        assert statuses == [("cancelled", later.pk), ("active", again.pk)]
    else:
        assert _state() == before


def test_the_declaration_page_offers_booking_to_who_may_book(client_as, firm_a, submitted, draft):
    url = reverse("declarations:detail", args=[submitted.pk])
    book = reverse("bookings:new", args=[submitted.pk])
    for user, shown in [(firm_a.dispatcher, True), (firm_a.driver, True), (firm_a.declarant, False)]:
        assert (book in client_as(user).get(url).content.decode()) is shown


def test_a_draft_offers_no_booking(client_as, firm_a, draft):
    page = client_as(firm_a.dispatcher).get(reverse("declarations:detail", args=[draft.pk])).content.decode()
    assert reverse("bookings:new", args=[draft.pk]) not in page


# --- book


def test_the_grid_shows_the_declarations_lane_with_free_places(client_as, firm_a, submitted, energy_slot):
    url = reverse("bookings:new", args=[submitted.pk])
    response = client_as(firm_a.driver).get(url, {"day": _day_param(energy_slot)})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Lane 2" in page and "Energy priority" in page
    assert "Lane 1" not in page  # general cargo is not this declaration's lane
    button = re.search(
        rf'<button type="submit" name="slot" value="{energy_slot.pk}"[^>]*>(.*?)</button>', page, re.S
    )
    assert "10:00" in button.group(1)
    assert f"{energy_slot.capacity} free" in button.group(1)
    assert "Times at Khorgos, UTC+8." in page
    days = re.findall(r'href="\?day=(\d{4}-\d{2}-\d{2})"', page)
    policy = services.policy_of(submitted.port)
    assert len(days) == policy.window_days + 1


def test_a_driver_books_from_the_grid_and_gets_a_pass(client_as, firm_a, submitted, energy_slot):
    client = client_as(firm_a.driver)
    url = reverse("bookings:new", args=[submitted.pk]) + f"?day={_day_param(energy_slot)}"
    response = client.post(url, {"slot": energy_slot.pk})
    booking = Booking.objects.get()
    assert response["Location"] == reverse("bookings:detail", args=[booking.pk])
    assert (booking.slot, booking.created_by, booking.status) == (energy_slot, firm_a.driver, "active")
    detail = client.get(response["Location"]).content.decode()
    assert passes.format_short_code(services.live_pass(booking).short_code) in detail
    assert reverse("bookings:pass", args=[booking.pk]) in detail


def test_a_full_slot_shows_the_error_and_offers_the_next_free_ones(client_as, firm_a, submitted, energy_slot):
    Slot.objects.filter(pk=energy_slot.pk).update(booked=energy_slot.capacity)
    before = _state()
    response = client_as(firm_a.dispatcher).post(
        reverse("bookings:new", args=[submitted.pk]), {"slot": energy_slot.pk}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "This slot is full." in page
    offers = re.search(r'<form method="post" class="offers">(.*?)</form>', page, re.S).group(1)
    offered = [int(pk) for pk in re.findall(r'value="(\d+)"', offers)]
    assert offered == [s.pk for s in services.next_free(energy_slot)]
    assert len(offered) == 3
    assert "<strong>11:00</strong>" in offers  # the first of them, in port time
    assert _state() == before


@pytest.mark.parametrize(
    ("case", "code_text"),
    [
        ("rejected", "Only a submitted or accepted declaration can be booked"),
        ("past", "This slot has already begun."),
        ("vehicle", "This vehicle already has a booking at this port."),
        ("other_lane", "This lane is not for this cargo."),
    ],
)
def test_refusals_show_their_reason_and_change_nothing(
    client_as, firm_a, submitted, energy_slot, khorgos, officer_x, case, code_text
):
    slot = energy_slot
    if case == "rejected":
        declaration_services.declaration_reject(
            officer=officer_x, declaration=submitted, reason="Fake invoice"
        )
    elif case == "past":
        today = port_day(khorgos, 0)
        services.slots_ensure(khorgos, today - timedelta(days=1), today)
        slot = Slot.objects.filter(lane=energy_slot.lane, starts_at__lt=timezone.now()).order_by(
            "-starts_at"
        )[0]
    elif case == "vehicle":
        services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
        slot = slot_at(khorgos, "energy", port_day(khorgos), 12)
    elif case == "other_lane":
        slot = slot_at(khorgos, "green", port_day(khorgos), 10)
    before = _state()
    response = client_as(firm_a.dispatcher).post(
        reverse("bookings:new", args=[submitted.pk]), {"slot": slot.pk}
    )
    assert response.status_code == 200
    assert code_text in response.content.decode()
    assert _state() == before


def test_another_firms_declaration_cannot_be_booked(client_as, firm_b, submitted, energy_slot):
    response = client_as(firm_b.dispatcher).post(
        reverse("bookings:new", args=[submitted.pk]), {"slot": energy_slot.pk}
    )
    assert response.status_code == 404
    assert Booking.objects.count() == 0


def test_a_booked_vehicle_gets_a_link_to_its_booking_instead_of_the_grid(
    client_as, firm_a, submitted, booking
):
    page = client_as(firm_a.driver).get(reverse("bookings:new", args=[submitted.pk])).content.decode()
    assert "This declaration is booked." in page
    assert reverse("bookings:detail", args=[booking.pk]) in page
    assert 'name="slot"' not in page


def test_nonsense_slot_and_day_are_harmless(client_as, firm_a, submitted, energy_slot):
    client = client_as(firm_a.driver)
    url = reverse("bookings:new", args=[submitted.pk])
    assert client.get(url, {"day": "2001-01-01"}).status_code == 200
    assert client.get(url, {"day": "yesterday"}).status_code == 200
    response = client.post(url, {"slot": "x"})
    assert "Choose a slot." in response.content.decode()
    assert client.post(url, {"slot": "999999"}).status_code == 200
    assert Booking.objects.count() == 0


# --- move and cancel


def test_move_replaces_the_pass_and_says_the_new_code(client_as, firm_a, booking, khorgos):
    old = services.live_pass(booking)
    later = slot_at(khorgos, "energy", port_day(khorgos), 15)
    client = client_as(firm_a.driver)
    page = client.get(reverse("bookings:move", args=[booking.pk])).content.decode()
    assert "yours" in page and f'value="{later.pk}"' in page
    response = client.post(reverse("bookings:move", args=[booking.pk]), {"slot": later.pk}, follow=True)
    booking.refresh_from_db()
    new = services.live_pass(booking)
    assert booking.slot == later
    assert Pass.objects.get(pk=old.pk).revoked_at is not None
    assert passes.format_short_code(new.short_code) in response.content.decode()


def test_move_to_a_full_slot_keeps_the_old_place(client_as, firm_a, booking, khorgos, energy_slot):
    full = slot_at(khorgos, "energy", port_day(khorgos), 16)
    Slot.objects.filter(pk=full.pk).update(booked=full.capacity)
    before = _state()
    response = client_as(firm_a.dispatcher).post(
        reverse("bookings:move", args=[booking.pk]), {"slot": full.pk}
    )
    assert response.status_code == 200
    assert "This slot is full." in response.content.decode()
    assert _state() == before
    booking.refresh_from_db()
    assert booking.slot == energy_slot


def test_cancel_asks_first_then_cancels_and_the_pass_shows_it(client_as, firm_a, booking):
    client = client_as(firm_a.driver)
    url = reverse("bookings:cancel", args=[booking.pk])
    confirm = client.get(url).content.decode()
    assert "Yes, cancel the booking" in confirm
    assert Booking.objects.get().status == "active"
    response = client.post(url)
    assert response["Location"] == reverse("bookings:detail", args=[booking.pk])
    assert Booking.objects.get().status == "cancelled"
    page = client.get(reverse("bookings:pass", args=[booking.pk])).content.decode()
    assert "Cancelled" in page and "This pass is no longer valid." in page
    assert "<svg" not in page
    code = Pass.objects.get(booking=booking).short_code
    assert passes.format_short_code(code) not in page


def test_after_the_cutoff_the_booking_page_offers_no_change(client_as, firm_a, booking, energy_slot):
    start = timezone.now() + timedelta(minutes=10)
    Slot.objects.filter(pk=energy_slot.pk).update(starts_at=start, ends_at=start + timedelta(hours=1))
    client = client_as(firm_a.dispatcher)
    page = client.get(reverse("bookings:detail", args=[booking.pk])).content.decode()
    assert reverse("bookings:move", args=[booking.pk]) not in page
    assert "Changes close 60 minutes before the slot." in page
    response = client.post(reverse("bookings:cancel", args=[booking.pk]), follow=True)
    assert "It is too late to cancel this booking." in response.content.decode()
    assert Booking.objects.get().status == "active"


# --- the pass


def test_the_pass_page_shows_qr_code_plate_times_lane_and_status(client, firm_a, booking, energy_slot):
    client.force_login(firm_a.driver)
    client.cookies["tz"] = "Europe/Moscow"
    response = client.get(reverse("bookings:pass", args=[booking.pk]))
    page = response.content.decode()
    live = services.live_pass(booking)
    assert response["Cache-Control"] == "private, no-cache"
    assert re.search(r'<div class="qr" role="img"[^>]*><svg [^>]*viewBox="0 0 49 49"', page)
    assert (
        f'<p class="code"><span class="visually-hidden">Short code: </span>{live.short_code[:5]}-{live.short_code[5:]}</p>'
        in page
    )
    assert firm_a.vehicle.plate in page
    assert "<strong>10:00</strong>" in page and "(Khorgos, UTC+8)" in page
    assert "05:00 your time" in page  # Moscow is UTC+3
    assert "Lane 2" in page and "Booked" in page
    assert reverse("bookings:service_worker") in page


@pytest.mark.parametrize("cookie", ["", "Asia/Hong_Kong", "../../etc/passwd", "Not/AZone", "x" * 80])
def test_no_second_time_when_the_phone_keeps_port_time_or_says_nonsense(client, firm_a, booking, cookie):
    client.force_login(firm_a.driver)
    client.cookies["tz"] = cookie
    page = client.get(reverse("bookings:pass", args=[booking.pk])).content.decode()
    assert "your time" not in page
    assert "<strong>10:00</strong>" in page


def test_the_pass_svg_is_the_token_in_a_qr_code(client, firm_a, booking):
    client.force_login(firm_a.driver)
    page = client.get(reverse("bookings:pass", args=[booking.pk])).content.decode()
    from bookings import qr

    assert qr.svg(services.live_pass(booking).token) in page


def test_the_service_worker_is_served_for_the_bookings_scope(client):
    response = client.get(reverse("bookings:service_worker"))
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == "/bookings/"
    assert '"/static/portal/site.css"' in body and '"/static/bookings/bookings.css"' in body
    assert "{%" not in body and "&quot;" not in body


# --- lists


def _many_bookings(firm, khorgos, count):
    """Past and cancelled bookings with passes: the rows a list shows, made directly."""
    lane_slots = []
    for hour in range(count):
        lane_slots.append(slot_at(khorgos, "energy", port_day(khorgos, 2), hour))
    for slot in lane_slots:
        vehicle = factories.VehicleFactory(organisation=firm.organisation)
        booking = Booking.objects.create(
            port=khorgos,
            slot=slot,
            organisation=firm.organisation,
            declaration=Booking.objects.first().declaration,
            vehicle=vehicle,
            driver=firm.driver.driver,
            created_by=firm.dispatcher,
            status=BookingStatus.ACTIVE,
        )
        services.pass_issue(booking)


@pytest.mark.parametrize("who", ["driver", "firm"])
def test_lists_run_a_fixed_number_of_queries(
    client_as, firm_a, booking, khorgos, who, django_assert_max_num_queries
):
    client = client_as(firm_a.driver if who == "driver" else firm_a.dispatcher)
    url = (
        reverse("bookings:mine")
        if who == "driver"
        else reverse("bookings:firm", args=[firm_a.organisation.pk])
    )
    with django_assert_max_num_queries(20) as one:
        assert client.get(url).status_code == 200
    _many_bookings(firm_a, khorgos, 8)
    Booking.objects.filter(pk__in=Booking.objects.order_by("pk").values("pk")[1:4]).update(
        status=BookingStatus.CANCELLED
    )
    with django_assert_max_num_queries(len(one)):
        page = client.get(url).content.decode()
    assert page.count('class="badge s-') == 9


def test_my_bookings_shows_the_drivers_own_and_links_the_firms(client_as, firm_a, firm_b, booking):
    page = client_as(firm_a.driver).get(reverse("bookings:mine")).content.decode()
    assert reverse("bookings:pass", args=[booking.pk]) in page
    page = client_as(firm_a.admin).get(reverse("bookings:mine")).content.decode()
    assert reverse("bookings:pass", args=[booking.pk]) not in page
    assert reverse("bookings:firm", args=[firm_a.organisation.pk]) in page
    page = client_as(firm_b.driver).get(reverse("bookings:mine")).content.decode()
    assert firm_a.vehicle.plate not in page
    page = (
        client_as(firm_b.admin).get(reverse("bookings:firm", args=[firm_b.organisation.pk])).content.decode()
    )
    assert firm_a.vehicle.plate not in page


def test_the_grid_runs_a_fixed_number_of_queries_however_many_slots(
    client_as, firm_a, submitted, khorgos, django_assert_max_num_queries
):
    client = client_as(firm_a.driver)
    url = reverse("bookings:new", args=[submitted.pk])
    hourly, half_hourly = port_day(khorgos, 1), port_day(khorgos, 2)
    client.get(url, {"day": hourly.isoformat()})  # the first look makes the day's slots
    BookingPolicy.objects.filter(port=khorgos).update(slot_minutes=30)
    client.get(url, {"day": half_hourly.isoformat()})
    with CaptureQueriesContext(connection) as few:
        page = client.get(url, {"day": hourly.isoformat()}).content.decode()
    assert page.count('name="slot"') == 24
    with django_assert_max_num_queries(len(few)):
        page = client.get(url, {"day": half_hourly.isoformat()}).content.decode()
    assert page.count('name="slot"') == 48
