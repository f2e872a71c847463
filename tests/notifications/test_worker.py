"""The Celery path once for real: a worker consuming from Redis sends what a commit queued."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from portal import services
from portal.celery import app

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_worker():
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


def wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_invitation_sms_goes_through_redis_and_a_worker_after_commit(redis_worker, sms_outbox):
    from tests.conftest import _firm

    firm = _firm("Worker")
    invitation = services.invitation_create(
        actor=firm.admin, organisation=firm.organisation, role="driver", phone="+77015550101"
    )
    assert wait_for(lambda: len(sms_outbox) >= 1), "the worker sent nothing"
    time.sleep(0.5)  # a second delivery, if there were one, would arrive in this time
    assert [m.to for m in sms_outbox] == ["+77015550101"]
    assert invitation.token in sms_outbox[0].body


def test_nothing_is_queued_when_the_transaction_rolls_back(redis_worker, sms_outbox):
    from django.db import transaction

    from tests.conftest import _firm

    firm = _firm("Rollback")

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        services.invitation_create(
            actor=firm.admin, organisation=firm.organisation, role="driver", phone="+77015550102"
        )
        raise Abort
    # Queue a marker after the rolled-back one: once it arrives, the worker has drained the queue.
    services.invitation_create(
        actor=firm.admin, organisation=firm.organisation, role="driver", phone="+77015550103"
    )
    assert wait_for(lambda: len(sms_outbox) >= 1)
    time.sleep(0.5)
    assert [m.to for m in sms_outbox] == ["+77015550103"]
