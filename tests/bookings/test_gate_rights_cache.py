"""An officer's gate rights are kept in the cache between requests, and every change to them
takes effect on the next scan: their ports, their groups, a group's permissions, their
two-factor authentication, the port's policy."""

import os
from datetime import timedelta

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import gate
from bookings.models import BookingPolicy
from portal import roles
from tests.bookings.test_gate import booking, border, shift  # noqa: F401  (fixtures)
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture(autouse=True)
def _rights_are_cached():
    if not settings.GATE_RIGHTS_CACHE_SECONDS:
        reason = "needs CACHE_URL=redis://...: without it the rights are not cached"
        if os.environ.get("LANDPORT_REQUIRE_SERVICES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def gate_api_for(token_api_as):
    nonces = iter(range(1000))

    def for_user(user):
        client = token_api_as(user)

        def scan(text="ABCDE-FGHJK"):
            return client.post(
                reverse("api:gate_scan"), {"port": "KHG", "text": text, "client_nonce": f"n-{next(nonces)}"}
            )

        return scan

    return for_user


@pytest.fixture
def gate_api(gate_api_for, border):  # noqa: F811
    return gate_api_for(border)


def rights_reads(captured) -> list[str]:
    return [q["sql"] for q in captured if "auth_permission" in q["sql"]]


def test_the_rights_are_read_once_then_come_from_the_cache(gate_api):
    with CaptureQueriesContext(connection) as first:
        assert gate_api().json()["reason"] == "unknown_code"
    with CaptureQueriesContext(connection) as second:
        assert gate_api().json()["reason"] == "unknown_code"
    assert (len(rights_reads(first)), len(rights_reads(second))) == (1, 0)


def test_an_officer_taken_off_the_port_is_refused_at_once(gate_api, border):  # noqa: F811
    assert gate_api().status_code == 200
    border.ports.clear()
    assert gate_api().status_code == 403


def test_an_officer_taken_out_of_the_group_is_refused_at_once(gate_api, border):  # noqa: F811
    assert gate_api().status_code == 200
    border.groups.clear()
    assert gate_api().status_code == 403


def test_a_group_that_loses_the_scan_permission_is_refused_at_once(gate_api):
    assert gate_api().status_code == 200
    group = Group.objects.get(name=roles.BORDER_INSPECTION_OFFICER)
    group.permissions.remove(Permission.objects.get(codename="scan_pass"))
    assert gate_api().status_code == 403


def test_an_officer_who_removes_two_factor_authentication_is_refused_at_once(gate_api, border):  # noqa: F811
    assert gate_api().status_code == 200
    Authenticator.objects.filter(user=border).delete()  # the queryset delete sends the signals too
    answer = gate_api()
    assert answer.status_code == 403
    assert "two-factor" in answer.json()["message"], answer.json()


def test_a_superuser_who_is_one_no_more_is_refused_at_once(gate_api_for):
    chief = UserFactory(is_staff=True, is_superuser=True, phone=None)
    TOTP.activate(chief, pyotp.random_base32())
    scan = gate_api_for(chief)
    assert scan().status_code == 200  # every port, with no group and no port of their own
    chief.is_superuser = False
    chief.save()
    assert scan().status_code == 403


def test_a_change_committed_while_the_rights_were_read_is_not_hidden(gate_api, border, monkeypatch):  # noqa: F811
    """The scan read the rights before the change and stores them after it: the entry must
    not outlive the change."""
    read = gate._scanner_rights_read

    def read_then_change(user):
        rights = read(user)
        border.ports.clear()
        return rights

    monkeypatch.setattr(gate, "_scanner_rights_read", read_then_change)
    assert gate_api().status_code == 200  # answered with the rights as they were read
    monkeypatch.setattr(gate, "_scanner_rights_read", read)
    assert gate_api().status_code == 403


def test_a_new_tolerance_of_the_port_applies_to_the_next_scan(gate_api, booking, khorgos):  # noqa: F811
    ended = shift(booking, timezone.now() - timedelta(hours=2))  # its hour ended an hour ago
    policy = BookingPolicy.objects.get(port=khorgos)
    policy.late_minutes = 0
    policy.save()
    assert gate_api(ended.token).json()["reason"] == "too_late"
    policy.late_minutes = 3 * 60
    policy.save()
    assert gate_api(ended.token).json()["result"] == "admit"
