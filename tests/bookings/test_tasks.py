"""The periodic tasks (slots, reminders, no-shows), the booking notifications, and slot times
across midnight and time zones."""

import threading
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bookings import operations, services, tasks
from bookings.models import Booking, BookingPolicy, BookingStatus, Lane, OpeningHours, Pass, Slot
from notifications import services as notification_services
from notifications.models import Notification, NotificationRequest
from notifications.segments import sms_encoding, sms_segments
from portal.errors import ApplicationError
from portal.models import AuditEvent, Port
from tests.bookings.conftest import port_day, slot_at
from tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BOOKING_EVENTS = [
    "booking.confirmed",
    "booking.moved",
    "booking.cancelled",
    "booking.reminder",
    "booking.checked_in",
    "booking.released",
    "booking.no_show",
]


def rows(event, **filters):
    return sorted(
        Notification.objects.filter(event=event, **filters).values_list("recipient_id", "channel", "status")
    )


def book(firm, declaration, slot):
    return services.booking_create(actor=firm.dispatcher, declaration=declaration, slot=slot)


def move_slot(slot, starts_at):
    """Put a slot at another time, as if the clock had moved on since it was booked."""
    Slot.objects.filter(pk=slot.pk).update(starts_at=starts_at, ends_at=starts_at + timedelta(hours=1))
    slot.refresh_from_db()
    return slot


# --- no-shows


def test_a_booking_becomes_a_no_show_only_after_slot_end_plus_grace(firm_a, submitted, energy_slot):
    booking = book(firm_a, submitted, energy_slot)
    grace = timedelta(minutes=services.policy_of(energy_slot.port).no_show_grace_minutes)
    end = energy_slot.ends_at

    assert operations.no_shows_mark(now=end + grace - timedelta(minutes=1)) == 0
    booking.refresh_from_db()
    assert booking.status == BookingStatus.ACTIVE
    assert rows("booking.no_show") == []

    assert operations.no_shows_mark(now=end + grace + timedelta(minutes=1)) == 1
    booking.refresh_from_db()
    energy_slot.refresh_from_db()
    assert booking.status == BookingStatus.NO_SHOW
    assert services.live_pass(booking) is None
    assert energy_slot.booked == 1  # the slot is over: its place is not given back
    assert AuditEvent.objects.filter(action="booking.no_show", object_id=str(booking.pk)).count() == 1
    assert rows("booking.no_show") == [
        (firm_a.dispatcher.pk, "email", "cancelled"),  # no verified email address
        (firm_a.dispatcher.pk, "inapp", "sent"),
        (firm_a.driver.pk, "inapp", "sent"),
        (firm_a.driver.pk, "sms", "pending"),
    ]
    sms = Notification.objects.get(event="booking.no_show", channel="sms")
    assert sms.body.startswith(f"Landport: {firm_a.vehicle.plate} missed its slot at Khorgos,")

    assert operations.no_shows_mark(now=end + grace + timedelta(hours=1)) == 0
    assert Notification.objects.filter(event="booking.no_show").count() == 4


def test_the_periodic_task_marks_no_shows_and_the_firm_is_then_refused(
    firm_a, submitted, energy_slot, khorgos
):
    BookingPolicy.objects.filter(port=khorgos).update(no_show_limit=1)
    booking = book(firm_a, submitted, energy_slot)
    move_slot(energy_slot, timezone.now() - timedelta(hours=3))

    assert tasks.no_shows_mark.delay().get() == 1

    booking.refresh_from_db()
    assert booking.status == BookingStatus.NO_SHOW
    assert services.no_shows_of(firm_a.organisation.pk, khorgos.pk) == 1
    later = slot_at(khorgos, "energy", port_day(khorgos), 14)
    with pytest.raises(ApplicationError) as refused:
        book(firm_a, submitted, later)
    assert refused.value.code == "no_show_limit"
    assert refused.value.extra == {"no_shows": 1}
    assert "missed 1 booked slots at this port in the last 30 days" in refused.value.message


def test_checked_in_and_cancelled_bookings_are_not_no_shows(firm_a, submitted, energy_slot):
    booking = book(firm_a, submitted, energy_slot)
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CHECKED_IN)
    assert operations.no_shows_mark(now=energy_slot.ends_at + timedelta(days=1)) == 0
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CHECKED_IN


def test_no_show_of_a_booking_moved_meanwhile_is_not_claimed(firm_a, submitted, energy_slot, khorgos):
    booking = book(firm_a, submitted, energy_slot)
    later = slot_at(khorgos, "energy", port_day(khorgos), 15)
    services.booking_move(actor=firm_a.dispatcher, booking=booking, slot=later)
    # A sweep that read the booking before the move comes with the old slot.
    after = energy_slot.ends_at + timedelta(days=1)
    assert not operations.booking_no_show(booking_id=booking.pk, slot_id=energy_slot.pk, now=after)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.ACTIVE


# --- reminders


def test_the_reminder_is_sent_once_however_often_the_task_runs(
    firm_a, submitted, energy_slot, sms_outbox, django_capture_on_commit_callbacks
):
    booking = book(firm_a, submitted, energy_slot)
    sms_outbox.clear()
    assert tasks.reminders_send.delay().get() == 0  # tomorrow: not yet
    move_slot(energy_slot, timezone.now() + timedelta(minutes=30))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reminders_send.delay().get() == 1
        assert tasks.reminders_send.delay().get() == 0

    booking.refresh_from_db()
    assert booking.reminded_at is not None
    assert rows("booking.reminder") == [
        (firm_a.dispatcher.pk, "email", "cancelled"),
        (firm_a.dispatcher.pk, "inapp", "sent"),
        (firm_a.driver.pk, "inapp", "sent"),
        (firm_a.driver.pk, "sms", "sent"),
    ]
    code = services.live_pass(booking).short_code
    assert [sms.body for sms in sms_outbox] == [
        f"Landport: {firm_a.vehicle.plate} due at Khorgos, {services._local(energy_slot.starts_at, booking.port)} "
        f"port time. Code {code[:5]}-{code[5:]}. Pass: {settings.SITE_URL}/p/{booking.pk}"
    ]


def test_a_moved_booking_is_reminded_again_for_its_new_slot(firm_a, submitted, energy_slot, khorgos):
    booking = book(firm_a, submitted, energy_slot)
    first_reminder = energy_slot.starts_at - timedelta(minutes=30)
    assert operations.reminders_send(now=first_reminder) == 1
    later = slot_at(khorgos, "energy", port_day(khorgos), 16)
    services.booking_move(actor=firm_a.dispatcher, booking=booking, slot=later)
    assert operations.reminders_send(now=later.starts_at - timedelta(minutes=30)) == 1
    assert Notification.objects.filter(event="booking.reminder", channel="sms").count() == 2


def test_no_reminder_outside_the_ports_reminder_time(firm_a, submitted, energy_slot, khorgos):
    book(firm_a, submitted, energy_slot)
    ahead = services.policy_of(khorgos).reminder_minutes
    assert operations.reminders_send(now=energy_slot.starts_at - timedelta(minutes=ahead + 1)) == 0
    assert operations.reminders_send(now=energy_slot.starts_at + timedelta(minutes=1)) == 0  # begun
    assert not Notification.objects.filter(event="booking.reminder").exists()


# --- notifications of booking, moving, cancelling


def test_booking_moving_and_cancelling_tell_the_booker_and_the_driver(
    firm_a, submitted, energy_slot, khorgos, django_capture_on_commit_callbacks
):
    EmailAddress.objects.create(user=firm_a.dispatcher, email=firm_a.dispatcher.email, verified=True)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(firm_a, submitted, energy_slot)
    # Recorded in the booking's transaction, written by a worker after commit: once.
    assert (
        NotificationRequest.objects.filter(event="booking.confirmed", expanded_at__isnull=False).count() == 1
    )
    first_code = services.live_pass(booking).short_code
    # Written by the worker after commit and sent (the test transports accept everything).
    everyone = [
        (firm_a.dispatcher.pk, "email", "sent"),
        (firm_a.dispatcher.pk, "inapp", "sent"),
        (firm_a.driver.pk, "inapp", "sent"),
        (firm_a.driver.pk, "sms", "sent"),
    ]
    assert rows("booking.confirmed") == everyone
    pass_url = f"{settings.SITE_URL}/bookings/{booking.pk}/pass/"  # the email's; the SMS's is short
    sms = Notification.objects.get(event="booking.confirmed", channel="sms")
    assert (sms.language, sms.address) == ("en", firm_a.driver.phone.as_e164)
    assert sms.body == (
        f"Landport: {firm_a.vehicle.plate} booked at Khorgos, {services._local(energy_slot.starts_at, khorgos)} "
        f"port time. Code {first_code[:5]}-{first_code[5:]}. Pass: {settings.SITE_URL}/p/{booking.pk}"
    )
    email = Notification.objects.get(event="booking.confirmed", channel="email")
    assert (
        email.subject
        == f"Slot booked: {firm_a.vehicle.plate}, {services._local(energy_slot.starts_at, khorgos)}"
    )
    assert pass_url in email.body
    assert f'href="{pass_url}"' in email.html

    later = slot_at(khorgos, "energy", port_day(khorgos), 15)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_move(actor=firm_a.driver, booking=booking, slot=later)
    assert rows("booking.moved") == everyone
    new_code = services.live_pass(booking).short_code
    moved = Notification.objects.get(event="booking.moved", channel="sms").body
    assert f"moved to Khorgos, {services._local(later.starts_at, khorgos)} port time" in moved
    assert f"New code {new_code[:5]}-{new_code[5:]}." in moved

    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(actor=firm_a.dispatcher, booking=booking)
    assert rows("booking.cancelled") == everyone
    cancelled = Notification.objects.get(event="booking.cancelled", channel="sms").body
    assert cancelled.endswith("is cancelled. Its pass no longer works.")
    assert "Code" not in cancelled


def test_a_russian_driver_is_told_in_russian_and_the_booker_in_english(
    firm_a, submitted, energy_slot, django_capture_on_commit_callbacks
):
    firm_a.driver.language = "ru"
    firm_a.driver.save(update_fields=["language"])
    with django_capture_on_commit_callbacks(execute=True):
        book(firm_a, submitted, energy_slot)
    sms = Notification.objects.get(event="booking.confirmed", channel="sms")
    assert sms.language == "ru"
    assert "Код" in sms.body
    booker = Notification.objects.get(event="booking.confirmed", channel="inapp", recipient=firm_a.dispatcher)
    assert (booker.language, booker.body.split(" booked at ")[0]) == ("en", firm_a.vehicle.plate)


SMS_WITH_LINK = {"booking.confirmed", "booking.moved", "booking.reminder"}
SMS_CONTEXT = {
    "plate": "123 ABA 01",
    "port": "Alashankou",
    "slot": "12.09.2026 10:30",
    "lane": "2",
    "code": "ABCDE-FGHJK",
    "pass_path": "/bookings/1234567/pass/",
    "short_pass_path": "/p/1234567",
    "site_url": "https://landport.example.com",
}


@pytest.mark.parametrize("event", BOOKING_EVENTS)
def test_english_booking_sms_with_real_values_is_one_gsm_segment(event):
    """A long plate, port name, slot, link and code still make one GSM-7 segment in English."""
    _used, parts = notification_services._render(event, "sms", "en", SMS_CONTEXT)
    text = parts["sms.txt"]
    assert "123 ABA 01" in text
    assert text.endswith("https://landport.example.com/p/1234567") == (event in SMS_WITH_LINK)
    assert (sms_encoding(text), sms_segments(text)) == ("GSM-7", 1), text


@pytest.mark.parametrize("language", ["ru", "kk", "mn", "zh-hans"])
@pytest.mark.parametrize("event", [e for e in BOOKING_EVENTS if e in SMS_WITH_LINK])
def test_a_booking_sms_in_another_script_with_its_link_is_at_most_two_segments(event, language):
    """UCS-2 holds 67 characters a segment: the short pass link keeps these to two."""
    _used, parts = notification_services._render(event, "sms", language, SMS_CONTEXT)
    text = parts["sms.txt"]
    assert "ABCDE-FGHJK" in text and text.endswith("/p/1234567")
    assert sms_encoding(text) == "UCS-2"
    assert sms_segments(text) <= 2, text


def test_the_sms_carries_the_short_link_to_the_pass(
    firm_a, firm_b, submitted, energy_slot, client_as, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(firm_a, submitted, energy_slot)
    sms = Notification.objects.get(event="booking.confirmed", channel="sms")
    assert sms.body.endswith(f"/p/{booking.pk}")
    short = f"/p/{booking.pk}"
    # The link itself says nothing: the pass page decides who sees the pass.
    assert client_as(firm_a.driver).get(short, follow=True).redirect_chain == [
        (reverse("bookings:pass", args=[booking.pk]), 302)
    ]
    assert client_as(firm_a.driver).get(short, follow=True).status_code == 200
    assert client_as(firm_b.dispatcher).get(short, follow=True).status_code == 404


def test_every_booking_event_has_all_three_channels():
    assert {event: notification_services.event_channels(event) for event in BOOKING_EVENTS} == {
        event: ["sms", "email", "inapp"] for event in BOOKING_EVENTS
    }


# --- slots


def test_slots_ensure_all_opens_every_ports_window_once():
    assert tasks.slots_ensure_all.delay().get() == Port.objects.count()
    counts = {}
    for port in Port.objects.all():
        policy = services.policy_of(port)
        today = timezone.localtime(timezone.now(), ZoneInfo(port.time_zone)).date()
        days = policy.window_days + 1
        hours_a_day = 24 if port.open_24h else 12  # the starting plan: 08:00-20:00
        lanes = Lane.objects.filter(port=port, active=True).count()
        slots = Slot.objects.filter(port=port)
        assert slots.count() == days * hours_a_day * lanes, port.code
        first = timezone.localtime(slots.order_by("starts_at").first().starts_at, ZoneInfo(port.time_zone))
        last = timezone.localtime(slots.order_by("starts_at").last().starts_at, ZoneInfo(port.time_zone))
        assert (first.date(), last.date()) == (today, today + timedelta(days=policy.window_days))
        counts[port.code] = slots.count()

    assert tasks.slots_ensure_all.delay().get() == Port.objects.count()
    assert {p.code: Slot.objects.filter(port=p).count() for p in Port.objects.all()} == counts


def _local_starts(port, lane_type, first, last):
    zone = ZoneInfo(port.time_zone)
    slots = Slot.objects.filter(port=port, lane__type=lane_type, lane__direction="inbound").order_by(
        "starts_at"
    )
    window = [s for s in slots if first <= timezone.localtime(s.starts_at, zone).replace(tzinfo=None) < last]
    return window, [timezone.localtime(s.starts_at, zone) for s in window]


def test_a_24_hour_port_runs_through_midnight_without_a_gap(khorgos):
    day = port_day(khorgos, 2)
    services.slots_ensure(khorgos, day, day + timedelta(days=1))
    slots, starts = _local_starts(
        khorgos, "energy", datetime.combine(day, time(22)), datetime.combine(day + timedelta(days=1), time(2))
    )
    next_day = day + timedelta(days=1)
    assert [(s.date(), s.hour) for s in starts] == [(day, 22), (day, 23), (next_day, 0), (next_day, 1)]
    assert all(a.ends_at == b.starts_at for a, b in pairwise(slots))
    # Midnight in Khorgos is 16:00 UTC of the day before.
    assert slots[2].starts_at == datetime.combine(day, time(16), tzinfo=UTC)


def test_opening_hours_past_midnight_give_slots_after_midnight(db):
    takshken = Port.objects.get(code="TKS")
    OpeningHours.objects.filter(port=takshken).update(opens=time(20), closes=time(2))
    day = port_day(takshken, 2)
    services.slots_ensure(takshken, day, day)
    slots, starts = _local_starts(
        takshken, "energy", datetime.combine(day, time()), datetime.combine(day + timedelta(days=2), time())
    )
    next_day = day + timedelta(days=1)
    assert [(s.date(), s.hour) for s in starts] == [
        (day, 20),
        (day, 21),
        (day, 22),
        (day, 23),
        (next_day, 0),
        (next_day, 1),
    ]
    assert timezone.localtime(slots[-1].ends_at, ZoneInfo("Asia/Shanghai")) == datetime.combine(
        next_day, time(2), tzinfo=ZoneInfo("Asia/Shanghai")
    )


def test_a_driver_in_almaty_books_the_right_instant_at_a_port_on_beijing_time(
    firm_a, submitted, khorgos, django_capture_on_commit_callbacks
):
    day = port_day(khorgos)
    slot = slot_at(khorgos, "energy", day, 10)  # 10:00 port time
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.booking_create(actor=firm_a.driver, declaration=submitted, slot=slot)
    starts = booking.slot.starts_at
    assert starts == datetime.combine(day, time(2), tzinfo=UTC)
    assert timezone.localtime(starts, ZoneInfo("Asia/Almaty")) == datetime.combine(
        day, time(7), tzinfo=ZoneInfo("Asia/Almaty")
    )
    pass_ = Pass.objects.get(booking=booking)
    assert (pass_.valid_from, pass_.valid_until) == (starts, starts + timedelta(hours=1))
    # The driver is told the port's time, and that it is the port's.
    shown = services._local(starts, khorgos)
    assert "10:00" in shown
    assert f"{shown} port time" in Notification.objects.get(event="booking.confirmed", channel="sms").body


def test_every_bookings_beat_entry_names_a_registered_task():
    from portal.celery import app

    entries = {
        k: v["task"] for k, v in settings.CELERY_BEAT_SCHEDULE.items() if v["task"].startswith("bookings.")
    }
    assert sorted(entries.values()) == [
        "bookings.tasks.no_shows_mark",
        "bookings.tasks.reminders_send",
        "bookings.tasks.slots_ensure_all",
    ]
    assert all(task in app.tasks for task in entries.values())


# --- two beats at once (PostgreSQL, real threads)

RACE_BOOKINGS = 30


@pytest.fixture
def due_for_reminder(firm_a, khorgos):
    """Many bookings whose slot starts in 30 minutes, none reminded yet."""
    from declarations.models import Declaration

    slot = slot_at(khorgos, "energy", port_day(khorgos), 10)
    Slot.objects.filter(pk=slot.pk).update(capacity=RACE_BOOKINGS)
    move_slot(slot, timezone.now() + timedelta(minutes=30))
    vehicles = [VehicleFactory(organisation=firm_a.organisation) for _ in range(RACE_BOOKINGS)]
    declarations = Declaration.objects.bulk_create(
        Declaration(
            reference=f"REMIND-{n:04d}",
            organisation=firm_a.organisation,
            declarant=firm_a.declarant,
            port=khorgos,
            direction="import",
            cargo_category="energy",
            vehicle=vehicle,
            status="accepted",
            channel="green",
        )
        for n, vehicle in enumerate(vehicles)
    )
    return Booking.objects.bulk_create(
        Booking(
            port=khorgos,
            slot=slot,
            organisation=firm_a.organisation,
            declaration=declaration,
            vehicle=declaration.vehicle,
            created_by=firm_a.dispatcher,
        )
        for declaration in declarations
    )


def _two_beats(work):
    barrier = threading.Barrier(2)
    results = []

    def beat():
        barrier.wait()
        try:
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reminder_beats_at_once_remind_each_booking_once(due_for_reminder):
    results = _two_beats(operations.reminders_send)
    assert sum(results) == RACE_BOOKINGS
    assert Notification.objects.filter(event="booking.reminder").count() == RACE_BOOKINGS * 2  # email, in-app
    assert not Booking.objects.filter(reminded_at__isnull=True).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_negative_control_without_the_claim_both_beats_remind(due_for_reminder, monkeypatch):
    """Shows that two beats do pick the same bookings: only the claim keeps it to one."""
    monkeypatch.setattr(operations, "CLAIM_CONDITIONALLY", False)
    results = _two_beats(operations.reminders_send)
    assert sum(results) > RACE_BOOKINGS


# --- demo data (``make run``)


def test_load_demo_books_the_demo_truck_once_and_says_where_its_pass_is(db):
    from io import StringIO

    from django.core.management import call_command

    outputs = []
    for _run in range(2):
        out = StringIO()
        call_command("load_demo", stdout=out)
        outputs.append(out.getvalue())
    booking = Booking.objects.get()
    assert (booking.vehicle.plate, booking.port.code, booking.status) == ("123 ABA 01", "KHG", "active")
    assert booking.declaration.status == "accepted"
    assert booking.driver.user.phone.as_e164 == "+77010000004"
    live = services.live_pass(booking)
    assert live is not None
    for output in outputs:
        assert f"{settings.SITE_URL}/bookings/{booking.pk}/pass/ (as the driver +77010000004)" in output
        assert f"short code {live.short_code[:5]}-{live.short_code[5:]}" in output
