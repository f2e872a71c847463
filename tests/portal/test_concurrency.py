"""Races on PostgreSQL with real threads, each with its own connection."""

import threading

import pytest
from django.db import connection

from portal import services
from portal.errors import ApplicationError
from portal.models import Invitation, Membership
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 6


def race(target, args_list):
    barrier = threading.Barrier(len(args_list))
    results = []
    lock = threading.Lock()

    def run(args):
        try:
            barrier.wait()
            outcome = target(*args)
        except ApplicationError as exc:
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(args,)) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture
def invitation():
    from tests.conftest import _firm

    firm = _firm("Race")
    return services.invitation_create(
        actor=firm.admin, organisation=firm.organisation, role="dispatcher", email="racer@example.com"
    )


def test_an_invitation_accepted_by_many_at_once_is_accepted_once(invitation):
    users = [UserFactory() for _ in range(RACERS)]
    results = race(
        lambda user: services.invitation_accept(token=invitation.token, user=user), [(u,) for u in users]
    )
    assert sum(isinstance(r, Invitation) for r in results) == 1
    assert sum(isinstance(r, ApplicationError) for r in results) == RACERS - 1
    assert Membership.objects.filter(organisation=invitation.organisation, role="dispatcher").count() == 2


def test_negative_control_without_the_conditional_claim_the_race_is_real(invitation, monkeypatch):
    """Check-then-write instead of the claim: several racers get in. The test can see races."""
    barrier = threading.Barrier(RACERS)

    def naive_claim(inv, user):
        still_open = Invitation.objects.get(pk=inv.pk).accepted_at is None
        barrier.wait()
        Invitation.objects.filter(pk=inv.pk).update(accepted_by=user)
        return still_open

    monkeypatch.setattr(services, "_invitation_claim", naive_claim)
    users = [UserFactory() for _ in range(RACERS)]
    results = race(
        lambda user: services.invitation_accept(token=invitation.token, user=user), [(u,) for u in users]
    )
    assert sum(isinstance(r, Invitation) for r in results) == RACERS


def test_one_registration_number_registered_by_many_at_once_makes_one_firm():
    users = [UserFactory() for _ in range(RACERS)]

    def register(user):
        return services.organisation_create(
            user=user, name="Twin", kind="logistics", country="KZ", registration_number="040840000550"
        )

    results = race(register, [(u,) for u in users])
    assert sum(not isinstance(r, ApplicationError) for r in results) == 1
    assert {r.code for r in results if isinstance(r, ApplicationError)} == {"duplicate_registration_number"}


def test_two_admins_demoting_each_other_at_once_leave_one_admin():
    from portal.models import Role
    from tests.factories import MembershipFactory, OrganisationFactory

    firm = OrganisationFactory()
    first, second = (MembershipFactory(organisation=firm, role=Role.ADMIN) for _ in range(2))

    def demote(actor, membership):
        return services.membership_change_role(actor=actor, membership=membership, role=Role.DECLARANT)

    results = race(demote, [(first.user, second), (second.user, first)])
    assert sum(isinstance(r, ApplicationError) for r in results) == 1
    assert Membership.objects.filter(organisation=firm, role=Role.ADMIN).count() == 1
