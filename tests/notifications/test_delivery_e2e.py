"""End to end: real Redis, real Celery workers, a real local HTTP gateway and a real SMTP
server. Nothing is lost when the gateway or the broker is down, nothing sent twice when a
worker dies mid-send or a task runs twice."""

import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email.policy import default as email_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from allauth.account.models import EmailAddress
from celery.contrib.testing.worker import start_worker
from django.db import connection
from kombu import pools

from notifications import services
from notifications.models import Notification, Preference
from notifications.tasks import notification_send
from portal import services as portal_services
from portal.celery import app
from tests.notifications.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
Status = Notification.Status


def wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    yield mailbox
    controller.stop()


@pytest.fixture
def gateway(settings):
    with Gateway() as gw:
        settings.SMS_TRANSPORT = "notifications.transports.HttpJsonSmsTransport"
        settings.SMS_GATEWAY_URL = gw.url
        yield gw


@pytest.fixture
def worker(settings):
    """A Celery worker in a thread of this process, consuming both queues from Redis."""
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 0.2
    app.conf.task_always_eager = False
    try:
        with start_worker(
            app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            queues=["celery", "notifications"],
            shutdown_timeout=10,
        ) as running:
            yield running
    finally:
        app.conf.task_always_eager = True


@pytest.fixture
def russian_driver(firm_a):
    user = firm_a.driver
    user.language, user.email = "ru", "driver.a@example.com"
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Preference.objects.create(user=user, event="organisation.verified", channel="email", enabled=True)
    return user


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_one_event_gives_one_sms_and_one_email_in_the_recipients_language(
    worker, gateway, smtp, firm_a, russian_driver, officer_x
):
    from portal.models import Membership

    Membership.objects.create(organisation=firm_a.organisation, user=russian_driver, role="admin")
    portal_services.organisation_verify(officer=officer_x, organisation=firm_a.organisation)

    assert wait_for(lambda: gateway.messages() and smtp.messages)
    time.sleep(1.0)  # time enough for a second copy of either to arrive, were one sent
    name = firm_a.organisation.name
    assert [(m["to"], m["text"]) for m in gateway.messages()] == [
        (russian_driver.phone.as_e164, f"Landport: компания {name} прошла проверку.")
    ]
    [mail] = smtp.messages
    assert mail["To"] == russian_driver.email
    assert str(mail["Subject"]).strip() == f"Компания {name} прошла проверку"
    assert f"Инспектор проверил {name}." in mail.get_body(("plain",)).get_content()
    assert (
        str(mail["List-Unsubscribe"]).strip().startswith("<http://127.0.0.1:8000/notifications/unsubscribe/")
    )
    assert (
        Notification.objects.filter(recipient=russian_driver, status=Status.SENT).count() == 3
    )  # sms, email, in-app
    assert gateway.duplicates == 0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_gateway_down_for_a_while_then_back_delivers_each_message_once(worker, settings):
    with Gateway(fail_first=6) as gw:
        settings.SMS_TRANSPORT = "notifications.transports.HttpJsonSmsTransport"
        settings.SMS_GATEWAY_URL = gw.url
        for n in range(3):
            services.notify("auth.code", address=f"+7701555010{n}", context={"code": f"11111{n}"}, key=str(n))
        assert wait_for(lambda: len(gw.messages()) == 3)
        time.sleep(1.0)
        assert sorted(m["to"] for m in gw.messages()) == ["+77015550100", "+77015550101", "+77015550102"]
        assert gw.requests >= 9 and gw.duplicates == 0
    assert list(Notification.objects.values_list("status", flat=True)) == ["sent"] * 3
    assert all(n.attempts >= 1 for n in Notification.objects.all())
    assert sum(n.attempts for n in Notification.objects.all()) == gw.requests


def use_broker(url: str | None) -> None:
    """Point this process's producers at another broker (None: back to the configured one)."""
    app.conf.broker_write_url = url
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_broker_unreachable_at_commit_then_the_sweeper_delivers(gateway, settings):
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    app.conf.task_always_eager = False
    try:
        ids = services.notify("auth.code", address="+77015550200", context={"code": "222222"}, key="b")
    finally:
        use_broker(None)
        app.conf.task_always_eager = True
    assert Notification.objects.get(pk=ids[0]).status == Status.PENDING  # saved, not queued
    assert gateway.messages() == []

    settings.NOTIFICATION_REQUEUE_SECONDS = 0
    app.conf.task_always_eager = False
    try:
        with start_worker(
            app, pool="threads", perform_ping_check=False, queues=["notifications"], shutdown_timeout=10
        ):
            assert services.notifications_sweep() == 1
            assert wait_for(lambda: len(gateway.messages()) == 1)
    finally:
        app.conf.task_always_eager = True
    assert Notification.objects.get(pk=ids[0]).status == Status.SENT


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_send_delivers_once(settings):
    """The gateway takes the message, then the worker dies before it hears back. The
    sweeper sends again with the same idempotency key; the gateway accepts it once."""
    with Gateway(hang_first_seconds=60) as gw:
        settings.SMS_TRANSPORT = "notifications.transports.HttpJsonSmsTransport"
        settings.SMS_GATEWAY_URL = gw.url
        db = connection.settings_dict
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "LANDPORT_ENV": "test",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "SMS_TRANSPORT": "notifications.transports.HttpJsonSmsTransport",
            "SMS_GATEWAY_URL": gw.url,
        }
        worker_process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                "notifications",
                "-P",
                "solo",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            app.conf.task_always_eager = False
            ids = services.notify("auth.code", address="+77015550300", context={"code": "333333"}, key="k")
            app.conf.task_always_eager = True
            assert wait_for(lambda: gw.requests == 1, 60), "the worker never reached the gateway"
            os.killpg(worker_process.pid, signal.SIGKILL)
            worker_process.wait(10)
        finally:
            if worker_process.poll() is None:
                os.killpg(worker_process.pid, signal.SIGKILL)
        row = Notification.objects.get(pk=ids[0])
        assert (row.status, row.attempts) == (Status.SENDING, 1)

        settings.NOTIFICATION_STUCK_SECONDS = 0
        app.conf.task_always_eager = False
        try:
            with start_worker(
                app, pool="threads", perform_ping_check=False, queues=["notifications"], shutdown_timeout=10
            ):
                assert services.notifications_sweep() == 1
                assert wait_for(lambda: Notification.objects.get(pk=ids[0]).status == Status.SENT)
        finally:
            app.conf.task_always_eager = True
        assert (len(gw.messages()), gw.duplicates) == (1, 1)
        assert Notification.objects.get(pk=ids[0]).attempts == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_task_run_twice_at_once_sends_once(gateway):
    app.conf.task_always_eager = False
    use_broker("redis://127.0.0.1:1/0")  # keep the row pending: nothing is queued
    try:
        ids = services.notify("auth.code", address="+77015550400", context={"code": "444444"}, key="t")
    finally:
        use_broker(None)
        app.conf.task_always_eager = True
    assert Notification.objects.get(pk=ids[0]).status == Status.PENDING
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        barrier.wait()
        outcomes.append(notification_send.apply(args=(ids[0],)).get())
        connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["sent", "skipped"]
    assert gateway.requests == 1
