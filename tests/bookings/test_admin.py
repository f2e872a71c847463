"""The back office of bookings: each officer sees their own ports, slots show how full they
are, a slot's capacity never drops below its bookings, and lists cost the same for 1 row or 30."""

import itertools
import secrets

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import passes
from bookings.models import Booking, BookingPolicy, CapacityException, GateEvent, Pass, Slot
from declarations.models import Declaration
from portal import roles
from portal.models import AuditEvent, Port
from tests.bookings.conftest import port_day, slot_at
from tests.factories import UserFactory, VehicleFactory, officer

pytestmark = pytest.mark.django_db

_references = itertools.count(1)


@pytest.fixture
def khg_border(db):
    return officer(roles.BORDER_INSPECTION_OFFICER, ["KHG"])


@pytest.fixture
def tks_border(db):
    return officer(roles.BORDER_INSPECTION_OFFICER, ["TKS"])


@pytest.fixture
def khg_operator(db):
    return officer(roles.PORT_OPERATOR, ["KHG"])


def make_bookings(firm, port_code, count, *, hour=10, days_ahead=1):
    """``count`` bookings with a live pass each, in one energy slot of the port."""
    port = Port.objects.get(code=port_code)
    slot = slot_at(port, "energy", port_day(port, days_ahead), hour)
    vehicles = [VehicleFactory(organisation=firm.organisation) for _ in range(count)]
    declarations = Declaration.objects.bulk_create(
        Declaration(
            reference=f"{port_code}-ADMIN-{next(_references):05d}",
            organisation=firm.organisation,
            declarant=firm.declarant,
            port=port,
            direction="import",
            cargo_category="energy",
            vehicle=vehicle,
            status="accepted",
            channel="green",
        )
        for vehicle in vehicles
    )
    bookings = Booking.objects.bulk_create(
        Booking(
            port=port,
            slot=slot,
            organisation=firm.organisation,
            declaration=declaration,
            vehicle=declaration.vehicle,
            driver=firm.driver.driver,
            created_by=firm.dispatcher,
        )
        for declaration in declarations
    )
    Pass.objects.bulk_create(
        Pass(
            booking=booking,
            nonce=secrets.token_hex(8),
            short_code=passes.new_short_code(),
            token="not-shown",
            valid_from=slot.starts_at,
            valid_until=slot.ends_at,
        )
        for booking in bookings
    )
    Slot.objects.filter(pk=slot.pk).update(booked=F("booked") + count)
    return bookings


def listed(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200
    return response, list(response.context["cl"].result_list)


BOOKINGS = reverse("admin:bookings_booking_changelist")
SLOTS = reverse("admin:bookings_slot_changelist")
GATE_EVENTS = reverse("admin:bookings_gateevent_changelist")


# --- who sees what


def test_an_officer_sees_the_bookings_of_their_own_port_only(admin_as, firm_a, khg_border, tks_border):
    [at_khorgos] = make_bookings(firm_a, "KHG", 1)
    [at_takshken] = make_bookings(firm_a, "TKS", 1)
    assert listed(admin_as(khg_border), BOOKINGS)[1] == [at_khorgos]
    assert listed(admin_as(tks_border), BOOKINGS)[1] == [at_takshken]
    superuser = UserFactory(is_staff=True, is_superuser=True)
    assert set(listed(admin_as(superuser), BOOKINGS)[1]) == {at_khorgos, at_takshken}


def test_another_ports_objects_are_404(admin_as, firm_a, tks_border):
    [booking] = make_bookings(firm_a, "KHG", 1)
    client = admin_as(tks_border)
    for name, pk in [
        ("booking", booking.pk),
        ("slot", booking.slot_id),
        ("lane", booking.slot.lane_id),
        ("bookingpolicy", BookingPolicy.objects.get(port__code="KHG").pk),
    ]:
        response = client.get(reverse(f"admin:bookings_{name}_change", args=[pk]))
        assert response.status_code == 404, name
    assert client.get(reverse("admin:bookings_booking_change", args=[999999])).status_code == 404


def test_a_customs_officer_has_no_bookings_back_office(admin_as, officer_x):
    assert admin_as(officer_x).get(BOOKINGS).status_code == 403


def test_the_booking_page_shows_passes_and_gate_events_read_only(admin_as, firm_a, khg_border):
    [booking] = make_bookings(firm_a, "KHG", 1)
    live = Pass.objects.get(booking=booking)
    GateEvent.objects.create(
        port=booking.port,
        booking=booking,
        pass_obj=live,
        officer=khg_border,
        kind="refuse",
        reason="too_early",
        offline=True,
        scanned_at=timezone.now(),
    )
    response = admin_as(khg_border).get(reverse("admin:bookings_booking_change", args=[booking.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert passes.format_short_code(live.short_code) in page
    assert "too_early" in page
    assert "not-shown" not in page  # the token is a credential
    assert 'name="_save"' not in page
    assert response.context["inline_admin_formsets"][0].has_change_permission is False


def test_officers_search_bookings_by_short_code_plate_and_reference(admin_as, firm_a, khg_border):
    booking, _other = make_bookings(firm_a, "KHG", 2)
    code = Pass.objects.get(booking=booking).short_code
    client = admin_as(khg_border)
    for typed in [
        passes.format_short_code(code),
        code.lower(),
        booking.vehicle.plate.replace(" ", ""),
        booking.declaration.reference,
    ]:
        assert listed(client, BOOKINGS, q=typed)[1] == [booking], typed


def test_the_day_filter_is_the_ports_day(admin_as, firm_a, khg_border):
    # 01:00 in Khorgos is 17:00 UTC the day before.
    [early] = make_bookings(firm_a, "KHG", 1, hour=1, days_ahead=2)
    khorgos = Port.objects.get(code="KHG")
    day = port_day(khorgos, 2)
    client = admin_as(khg_border)
    assert listed(client, BOOKINGS, day=day.isoformat())[1] == [early]
    assert listed(client, BOOKINGS, day=port_day(khorgos, 1).isoformat())[1] == []


def test_gate_events_filter_offline_and_used_twice(admin_as, firm_a, khg_border):
    [booking] = make_bookings(firm_a, "KHG", 1)
    common = {"port": booking.port, "booking": booking, "officer": khg_border, "scanned_at": timezone.now()}
    twice = GateEvent.objects.create(kind="admit", offline=True, used_twice=True, **common)
    GateEvent.objects.create(kind="admit", **common)
    client = admin_as(khg_border)
    assert listed(client, GATE_EVENTS, used_twice__exact="1")[1] == [twice]
    assert listed(client, GATE_EVENTS, offline__exact="1")[1] == [twice]
    assert len(listed(client, GATE_EVENTS)[1]) == 2


# --- slots


def test_slots_show_their_fill_level(admin_as, firm_a, khg_operator):
    bookings = make_bookings(firm_a, "KHG", 3)
    slot = Slot.objects.get(pk=bookings[0].slot_id)
    Slot.objects.filter(pk=slot.pk).update(capacity=12)
    response, rows = listed(
        admin_as(khg_operator),
        SLOTS,
        day=port_day(slot.port).isoformat(),
        lane=str(slot.lane_id),
        fill="free",
    )
    assert [row.pk for row in rows if row.booked] == [slot.pk]
    assert '<progress value="3" max="12">25%</progress> 25%' in response.content.decode()


def test_a_slots_capacity_cannot_go_below_its_bookings(admin_as, firm_a, khg_operator):
    bookings = make_bookings(firm_a, "KHG", 3)
    slot = Slot.objects.get(pk=bookings[0].slot_id)
    url = reverse("admin:bookings_slot_change", args=[slot.pk])
    client = admin_as(khg_operator)

    response = client.post(url, {"capacity": "2"})
    assert response.status_code == 200
    assert "3 places of this slot are booked" in response.content.decode()
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (slot.capacity, 3)

    response = client.post(url, {"capacity": "3"})
    assert response.status_code == 302
    assert Slot.objects.values_list("capacity", "booked").get(pk=slot.pk) == (3, 3)
    change = AuditEvent.objects.get(action="slot.capacity_changed", object_id=str(slot.pk))
    assert (change.actor, change.data) == (khg_operator, {"from_capacity": slot.capacity, "to_capacity": 3})


def test_a_border_officer_sees_slots_but_cannot_change_them(admin_as, firm_a, khg_border):
    [booking] = make_bookings(firm_a, "KHG", 1)
    client = admin_as(khg_border)
    url = reverse("admin:bookings_slot_change", args=[booking.slot_id])
    assert client.get(url).status_code == 200
    assert client.post(url, {"capacity": "50"}).status_code == 403
    assert Slot.objects.get(pk=booking.slot_id).capacity != 50


def test_an_operator_plans_only_their_own_ports(admin_as, khg_operator):
    client = admin_as(khg_operator)
    response = client.get(reverse("admin:bookings_lane_add"))
    assert [p.code for p in response.context["adminform"].form.fields["port"].queryset] == ["KHG"]
    response = client.get(reverse("admin:bookings_capacityexception_add"))
    assert {lane.port.code for lane in response.context["adminform"].form.fields["lane"].queryset} == {"KHG"}


def test_the_no_show_grace_cannot_be_shorter_than_late_admission(admin_as, khg_operator):
    policy = BookingPolicy.objects.get(port__code="KHG")
    data = {
        "slot_minutes": "60",
        "window_days": "7",
        "cutoff_minutes": "60",
        "early_minutes": "60",
        "late_minutes": "90",
        "no_show_grace_minutes": "30",
        "no_show_limit": "5",
        "firm_daily_quota": "",
        "reminder_minutes": "120",
    }
    client = admin_as(khg_operator)
    url = reverse("admin:bookings_bookingpolicy_change", args=[policy.pk])
    response = client.post(url, data)
    assert response.status_code == 200
    assert "At least as long as trucks are admitted late (90 minutes)." in response.content.decode()
    assert client.post(url, {**data, "no_show_grace_minutes": "90"}).status_code == 302
    policy.refresh_from_db()
    assert (policy.late_minutes, policy.no_show_grace_minutes) == (90, 90)


# --- query counts


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", [BOOKINGS, GATE_EVENTS, SLOTS])
def test_a_list_costs_the_same_for_1_row_or_30(
    admin_as, firm_a, khg_border, django_assert_max_num_queries, url
):
    client = admin_as(khg_border)

    def fill(count):
        for booking in make_bookings(firm_a, "KHG", count, hour=10 + fill.calls):
            GateEvent.objects.create(
                port=booking.port,
                booking=booking,
                pass_obj=booking.passes.first(),
                officer=khg_border,
                kind="admit",
                scanned_at=timezone.now(),
            )
        fill.calls += 1

    fill.calls = 0
    fill(1)
    one = _queries(client, url)
    fill(29)
    with django_assert_max_num_queries(one):
        response = client.get(url)
    shown = response.context["cl"].result_count
    assert shown >= 30


@pytest.mark.parametrize(
    "model", ["lane", "bookingpolicy", "openinghours", "capacityexception", "slot", "booking", "gateevent"]
)
def test_every_bookings_page_of_the_back_office_opens(admin_as, firm_a, model):
    [booking] = make_bookings(firm_a, "KHG", 1)
    GateEvent.objects.create(
        port=booking.port,
        booking=booking,
        officer=None,
        kind="refuse",
        reason="not_a_pass",
        scanned_at=timezone.now(),
    )
    CapacityException.objects.create(port=booking.port, date=port_day(booking.port, 3), closed=True)
    client = admin_as(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse(f"admin:bookings_{model}_changelist"))
    assert response.status_code == 200
    first = response.context["cl"].result_list[0]
    assert client.get(reverse(f"admin:bookings_{model}_change", args=[first.pk])).status_code == 200


def test_a_capacity_exception_needs_a_lane_of_its_port_and_a_closure_or_a_capacity(admin_as, khg_operator):
    from bookings.models import Lane

    khorgos = Port.objects.get(code="KHG")
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = admin_as(superuser)
    url = reverse("admin:bookings_capacityexception_add")
    day = port_day(khorgos, 3).isoformat()
    elsewhere = Lane.objects.filter(port__code="TKS").first()
    response = client.post(url, {"port": khorgos.pk, "lane": elsewhere.pk, "date": day, "reason": "Snow"})
    page = response.content.decode()
    assert "This lane is at another port." in page
    assert "Close the day or give its capacity." in page
    assert not CapacityException.objects.exists()
    own = Lane.objects.filter(port=khorgos).first()
    client = admin_as(khg_operator)
    response = client.post(
        url, {"port": khorgos.pk, "lane": own.pk, "date": day, "capacity": "3", "reason": "Snow"}
    )
    assert response.status_code == 302
    assert CapacityException.objects.values_list("lane", "capacity").get() == (own.pk, 3)
