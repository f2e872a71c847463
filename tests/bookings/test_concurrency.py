"""200 people race for the last 50 places of a slot on PostgreSQL, with real threads."""

import threading

import pytest
from django.db import connection

from bookings import services
from bookings.models import Booking, Slot
from declarations.models import Declaration
from portal.errors import ApplicationError
from tests.bookings.conftest import port_day, slot_at
from tests.factories import VehicleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

RACERS = 200
PLACES = 50
# PostgreSQL allows 100 connections; each racer holds one while it books.
AT_ONCE = 80


def _declarations(firm, port, count):
    vehicles = [VehicleFactory(organisation=firm.organisation) for _ in range(count)]
    return Declaration.objects.bulk_create(
        Declaration(
            reference=f"RACE-{n:05d}",
            organisation=firm.organisation,
            declarant=firm.declarant,
            port=port,
            direction="import",
            cargo_category="energy",
            vehicle=vehicle,
            status="accepted",
            channel="green",
        )
        for n, vehicle in enumerate(vehicles)
    )


def _race(actor, declarations, slot):
    barrier = threading.Barrier(len(declarations))
    gate = threading.Semaphore(AT_ONCE)
    results, lock = [], threading.Lock()

    def run(declaration):
        barrier.wait()
        with gate:
            try:
                outcome = services.booking_create(actor=actor, declaration=declaration, slot=slot)
            except ApplicationError as exc:
                outcome = exc
            finally:
                connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(d,)) for d in declarations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@pytest.fixture
def contested(firm_a, khorgos):
    slot = slot_at(khorgos, "energy", port_day(khorgos), 10)
    Slot.objects.filter(pk=slot.pk).update(capacity=PLACES)
    return slot, _declarations(firm_a, khorgos, RACERS)


def test_200_racers_for_50_places_get_exactly_50_bookings(firm_a, contested):
    slot, declarations = contested
    results = _race(firm_a.dispatcher, declarations, slot)
    assert len(results) == RACERS
    made = [r for r in results if isinstance(r, Booking)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert (len(made), len(refused)) == (PLACES, RACERS - PLACES)
    assert {r.code for r in refused} == {"slot_full"}
    assert all(len(r.extra["next_free"]) == 3 for r in refused)
    slot.refresh_from_db()
    assert (slot.booked, Booking.objects.filter(slot=slot).count()) == (PLACES, PLACES)


def test_negative_control_without_the_lock_the_slot_is_overbooked(firm_a, contested, monkeypatch):
    """Shows the race the lock prevents is real on this database."""
    monkeypatch.setattr(services, "LOCK_CAPACITY", False)
    slot, declarations = contested
    _race(firm_a.dispatcher, declarations, slot)
    assert Booking.objects.filter(slot=slot).count() > PLACES
