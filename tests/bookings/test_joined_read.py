"""JoinedRead gives the same instances as the ORM's select_related, in one statement."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import services
from bookings.models import Pass
from portal.joined import JoinedRead
from tests.bookings.test_gate import booking  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

RELATED = ["booking__slot__lane", "booking__declaration", "booking__vehicle", "booking__driver__user"]


def values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_same_objects_as_select_related_in_one_statement(booking):  # noqa: F811
    live = services.live_pass(booking)
    expected = Pass.objects.select_related(*RELATED).get(pk=live.pk)
    read = JoinedRead(Pass, RELATED)
    with CaptureQueriesContext(connection) as captured:
        found = read.first(nonce=live.nonce, booking_id=booking.pk)
        chain = [
            found.booking,
            found.booking.slot,
            found.booking.slot.lane,
            found.booking.declaration,
            found.booking.vehicle,
            found.booking.driver,
            found.booking.driver.user,
        ]
    assert len(captured) == 1
    assert values(found) == values(expected)
    assert found.valid_from.tzinfo is not None and found.valid_from == expected.valid_from
    for mine, theirs in zip(
        chain,
        [
            expected.booking,
            expected.booking.slot,
            expected.booking.slot.lane,
            expected.booking.declaration,
            expected.booking.vehicle,
            expected.booking.driver,
            expected.booking.driver.user,
        ],
        strict=True,
    ):
        assert type(mine) is type(theirs) and values(mine) == values(theirs)
        assert not mine._state.adding and mine._state.db == "default"


def test_a_missing_row_is_none_and_a_null_relation_is_none(booking):  # noqa: F811
    read = JoinedRead(Pass, RELATED)
    assert read.first(short_code="NOSUCHCODE") is None
    live = services.live_pass(booking)
    type(booking).objects.filter(pk=booking.pk).update(driver=None)
    found = read.first(short_code=live.short_code)
    with CaptureQueriesContext(connection) as captured:
        assert found.booking.driver is None
    assert len(captured) == 0
