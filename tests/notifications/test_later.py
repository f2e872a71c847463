"""notify_later: one row in the caller's transaction, expanded into notifications by a worker
after commit, once, or by the sweeper when the broker was down."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from notifications import services
from notifications.models import Notification, NotificationRequest
from portal.celery import app
from tests.notifications.test_delivery_e2e import gateway, use_broker, wait_for  # noqa: F401 - a fixture

CONTEXT = {"organisation": "Steppe Cargo"}


def later(user, key=""):
    return services.notify_later(
        "organisation.verified", user, recipients=[user], context=CONTEXT, organisation=None, key=key
    )


@pytest.mark.django_db
def test_the_request_costs_one_insert_and_writes_no_notification(firm_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        request = later(firm_a.driver)
    assert (request.event, request.recipients, request.context, request.expanded_at) == (
        "organisation.verified",
        [firm_a.driver.pk],
        CONTEXT,
        None,
    )
    assert (request.object_type, request.object_id) == ("portal.user", str(firm_a.driver.pk))
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_after_commit_a_worker_writes_the_notifications_once(firm_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request = later(firm_a.driver)
    assert len(callbacks) == 2  # queue the request; then, in the worker's commit, queue its SMS
    request.refresh_from_db()
    assert request.expanded_at is not None
    written = sorted(Notification.objects.values_list("recipient_id", "channel", "event"))
    assert written == [
        (firm_a.driver.pk, "inapp", "organisation.verified"),
        (firm_a.driver.pk, "sms", "organisation.verified"),
    ]
    sms = Notification.objects.get(channel="sms")
    assert sms.body == "Landport: Steppe Cargo is verified."
    # A second delivery of the task (a retry, a redelivered message) writes nothing.
    assert services.notification_request_expand(request_id=request.pk) == []
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_a_request_rolled_back_with_its_change_tells_nobody(firm_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                later(firm_a.driver)
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not NotificationRequest.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_being_expanded_is_skipped_by_a_second_worker(firm_a):
    app.conf.task_always_eager = False
    try:
        with transaction.atomic():
            request = later(firm_a.driver)
    finally:
        app.conf.task_always_eager = True
    locked, release = threading.Event(), threading.Event()

    def first_worker():
        try:
            with transaction.atomic():
                NotificationRequest.objects.select_for_update().get(pk=request.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=first_worker)
    holder.start()
    try:
        assert locked.wait(10)
        assert services.notification_request_expand(request_id=request.pk) == []
    finally:
        release.set()
        holder.join()
    assert not Notification.objects.exists()
    assert len(services.notification_request_expand(request_id=request.pk)) == 1  # the SMS; in-app is sent
    assert Notification.objects.count() == 2


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_broker_down_at_commit_then_the_sweeper_has_it_written_and_sent(gateway, firm_a, settings):  # noqa: F811
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    app.conf.task_always_eager = False
    try:
        with transaction.atomic():
            request = later(firm_a.driver)
    finally:
        use_broker(None)
        app.conf.task_always_eager = True
    request.refresh_from_db()
    assert request.expanded_at is None  # kept, not lost
    assert not Notification.objects.exists()

    NotificationRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    settings.NOTIFICATION_REQUEUE_SECONDS = 60
    from celery.contrib.testing.worker import start_worker

    app.conf.task_always_eager = False
    try:
        with start_worker(
            app, pool="threads", perform_ping_check=False, queues=["notifications"], shutdown_timeout=10
        ):
            services.notifications_sweep()
            assert wait_for(lambda: len(gateway.messages()) == 1)
            services.notifications_sweep()  # once more: nothing left to write or send
    finally:
        app.conf.task_always_eager = True
    assert [m["to"] for m in gateway.messages()] == [firm_a.driver.phone.as_e164]
    assert gateway.duplicates == 0
    assert Notification.objects.get(channel="sms").status == Notification.Status.SENT
    request.refresh_from_db()
    assert request.expanded_at is not None


@pytest.mark.django_db
def test_the_sweeper_drops_requests_expanded_more_than_a_week_ago(firm_a):
    now = timezone.now()
    old_done, recent_done, old_pending = (later(firm_a.driver, key=k) for k in ("a", "b", "c"))
    NotificationRequest.objects.filter(pk=old_done.pk).update(
        created_at=now - timedelta(days=9), expanded_at=now - timedelta(days=8)
    )
    NotificationRequest.objects.filter(pk=recent_done.pk).update(expanded_at=now - timedelta(days=6))
    NotificationRequest.objects.filter(pk=old_pending.pk).update(created_at=now - timedelta(days=9))
    services.notifications_sweep()
    assert set(NotificationRequest.objects.values_list("pk", flat=True)) == {recent_done.pk, old_pending.pk}
