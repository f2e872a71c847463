from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Lane, Slot
from declarations import services as declaration_services
from tests.declarations import conftest as declarations_fixtures

# The declarations' fixtures, shared.
khorgos = declarations_fixtures.khorgos
draft = declarations_fixtures.draft
_media = declarations_fixtures._media


def port_day(port, days_ahead=1):
    """A date in the port's own time zone."""
    return (timezone.localtime(timezone.now(), services.port_zone(port)) + timedelta(days=days_ahead)).date()


def slot_at(port, lane_type, day, hour, direction="inbound"):
    services.slots_ensure(port, day, day)
    start = datetime.combine(day, time(hour), tzinfo=services.port_zone(port))
    lane = Lane.objects.get(port=port, type=lane_type, direction=direction)
    return Slot.objects.get(lane=lane, starts_at=start)


@pytest.fixture
def submitted(draft, firm_a):
    """Firm A's coal declaration at Khorgos, submitted (green, energy lane)."""
    return declaration_services.declaration_submit(
        actor=firm_a.declarant, declaration=draft, sample_draw=99.9
    )


@pytest.fixture
def energy_slot(khorgos):
    return slot_at(khorgos, "energy", port_day(khorgos), 10)
