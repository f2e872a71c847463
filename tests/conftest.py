"""Fixtures for every test: the named personas, and the rules for tests that need servers.

Tests marked ``postgres``, ``redis`` or ``browser`` are skipped with a one-line reason when
the server or browser is missing; with LANDPORT_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

import os
import shutil
from dataclasses import dataclass

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from notifications import transports
from portal import roles
from tests import factories

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _redis_available() -> str | None:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return "needs Redis: set CELERY_BROKER_URL=redis://..."
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"needs Redis at {url}: {exc}"
    return None


def _missing(marker: str) -> str | None:
    if marker == "postgres":
        return (
            None if connection.vendor == "postgresql" else "needs PostgreSQL: set DATABASE_URL=postgres://..."
        )
    if marker == "redis":
        return _redis_available()
    if marker == "browser":
        return None if os.path.exists(CHROMIUM) else f"needs Debian's Chromium at {CHROMIUM}"
    return None


def pytest_collection_modifyitems(items):
    """Every transactional test starts from the migrated reference data (ports, lanes, risk
    rules, officer groups): a transactional test empties the tables when it ends, and only
    a serialized rollback puts that data back for the next one."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            item.add_marker(
                pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}),
                append=False,
            )


def pytest_runtest_setup(item):
    for marker in ("postgres", "redis", "browser"):
        if item.get_closest_marker(marker):
            reason = _missing(marker)
            if reason:
                if os.environ.get("LANDPORT_REQUIRE_SERVICES") == "1":
                    pytest.fail(f"{reason} (LANDPORT_REQUIRE_SERVICES=1)", pytrace=False)
                pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts in English with no rate-limit counts left by an earlier test.

    A database cache is rolled back with each test; a Redis cache (CI) is not.
    """
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache
    from django.utils import translation

    translation.activate("en")
    if not isinstance(caches["default"], DatabaseCache):
        caches["default"].clear()
    yield
    translation.activate("en")


@pytest.fixture(autouse=True)
def _sms_outbox():
    transports.outbox.clear()
    yield transports.outbox
    transports.outbox.clear()


@pytest.fixture
def sms_outbox(_sms_outbox):
    return _sms_outbox


@dataclass
class Firm:
    organisation: object
    admin: object
    declarant: object
    dispatcher: object
    driver: object
    vehicle: object


def _firm(prefix: str) -> Firm:
    organisation = factories.OrganisationFactory(name=f"{prefix} Logistics")
    admin = factories.MembershipFactory(organisation=organisation, role="admin").user
    declarant = factories.MembershipFactory(organisation=organisation, role="declarant").user
    dispatcher = factories.MembershipFactory(organisation=organisation, role="dispatcher").user
    driver = factories.FirmDriverFactory(organisation=organisation).driver.user
    vehicle = factories.VehicleFactory(organisation=organisation)
    return Firm(organisation, admin, declarant, dispatcher, driver, vehicle)


@pytest.fixture
def firm_a(db) -> Firm:
    return _firm("Alpha")


@pytest.fixture
def firm_b(db) -> Firm:
    return _firm("Bravo")


@pytest.fixture
def officer_x(db):
    """A customs officer at Khorgos (KHG)."""
    return factories.officer(roles.CUSTOMS_OFFICER, ["KHG"])


@pytest.fixture
def officer_y(db):
    """A customs officer at Takshken (TKS)."""
    return factories.officer(roles.CUSTOMS_OFFICER, ["TKS"])


# The keys of ``personas``, in the order permission tests go through them.
PERSONA_NAMES = [
    "admin_a",
    "declarant_a",
    "dispatcher_a",
    "driver_a",
    "admin_b",
    "declarant_b",
    "driver_b",
    "officer_x",
    "officer_y",
    "anonymous",
]


@pytest.fixture
def personas(firm_a, firm_b, officer_x, officer_y):
    """Every persona by name; None is the anonymous visitor."""
    return {
        "admin_a": firm_a.admin,
        "declarant_a": firm_a.declarant,
        "dispatcher_a": firm_a.dispatcher,
        "driver_a": firm_a.driver,
        "admin_b": firm_b.admin,
        "declarant_b": firm_b.declarant,
        "driver_b": firm_b.driver,
        "officer_x": officer_x,
        "officer_y": officer_y,
        "anonymous": None,
    }


@pytest.fixture
def client_as(client):
    def as_user(user):
        client.logout()
        if user is not None:
            client.force_login(user)
        return client

    return as_user


@pytest.fixture
def api_as():
    def as_user(user):
        api = APIClient()
        if user is not None:
            api.force_authenticate(user)
        return api

    return as_user


@pytest.fixture
def token_api_as():
    """An API client that sends a new token of ``user``, as a handheld or a firm's system does."""
    from rest_framework.authtoken.models import Token

    def as_user(user):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return api

    return as_user


@pytest.fixture
def admin_as(client):
    """The test client signed in as an officer with two-factor set up, as the admin wants."""

    def sign_in(user):
        TOTP.activate(user, pyotp.random_base32())
        client.force_login(user)
        return client

    return sign_in
