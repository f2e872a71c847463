"""Sending through the transports against a real local HTTP gateway: retries, failures,
claims, the sweeper and delivery reports."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications import services
from notifications.models import DeliveryReport, Notification
from notifications.transports import HttpJsonSmsTransport, Sms, TransportError, TwilioSmsTransport
from tests.notifications.gateway import Gateway

Status = Notification.Status


@pytest.fixture
def gateway(settings):
    with Gateway() as gw:
        settings.SMS_TRANSPORT = "notifications.transports.HttpJsonSmsTransport"
        settings.SMS_GATEWAY_URL = gw.url
        yield gw


def code_sms(n=0):
    ids = services.notify("auth.code", address=f"+7701555000{n}", context={"code": f"65432{n}"}, key=str(n))
    return Notification.objects.get(pk=ids[0])


class Scripted:
    """A server that answers each request from a script: (status, body, headers, delay)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body, headers, delay = server.answers.pop(0)
                if delay:
                    time.sleep(delay)
                if status is None:  # close the connection without an answer
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                raw = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    ("answer", "permanent", "retry_after"),
    [
        ((500, {"error": "oops"}, {}, 0), False, None),
        ((503, {}, {}, 0), False, None),
        ((429, {}, {"Retry-After": "7"}, 0), False, 7.0),
        ((400, {"error": "bad number"}, {}, 0), True, None),
        ((None, None, {}, 0), False, None),  # connection closed
        ((200, {"id": "late"}, {}, 1.5), False, None),  # slower than the timeout
    ],
    ids=["500", "503", "429", "400", "closed", "timeout"],
)
def test_http_gateway_errors_are_classified(settings, answer, permanent, retry_after):
    server = Scripted(answer)
    settings.SMS_GATEWAY_URL = server.url
    settings.HTTP_TIMEOUT_SECONDS = 0.5
    try:
        with pytest.raises(TransportError) as exc:
            HttpJsonSmsTransport().send(Sms(to="+77010000001", body="hi", idempotency_key="k1"))
    finally:
        server.close()
    assert (exc.value.permanent, exc.value.retry_after) == (permanent, retry_after)


def test_http_gateway_success_returns_the_message_id(gateway):
    assert HttpJsonSmsTransport().send(Sms(to="+77010000001", body="hi", idempotency_key="k1")) == "gw-1"
    assert HttpJsonSmsTransport().send(Sms(to="+77010000001", body="hi", idempotency_key="k1")) == "gw-1"
    assert (len(gateway.messages()), gateway.duplicates) == (1, 1)


def test_twilio_transport_posts_the_messages_api_and_knows_a_bad_number(settings):
    server = Scripted((201, {"sid": "SM123"}, {}, 0), (400, {"code": 21211, "message": "invalid To"}, {}, 0))
    settings.TWILIO_API_BASE, settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = (
        server.url,
        "AC1",
        "tok",
    )
    try:
        assert TwilioSmsTransport().send(Sms(to="+77010000001", body="hi")) == "SM123"
        with pytest.raises(TransportError) as exc:
            TwilioSmsTransport().send(Sms(to="+7", body="hi"))
    finally:
        server.close()
    assert exc.value.permanent is True


@pytest.mark.django_db
def test_delivery_sends_once_and_blanks_a_code(gateway):
    notification = code_sms()
    assert services.notification_deliver(notification_id=notification.pk) == ("sent", None)
    assert services.notification_deliver(notification_id=notification.pk) == ("skipped", None)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.provider_message_id) == (
        "sent",
        1,
        "gw-1",
    )
    assert "654320" not in notification.body
    assert gateway.messages()[0]["text"] == "654320 is your Landport code. Do not share it."


@pytest.mark.django_db
def test_temporary_errors_back_off_then_fail_after_the_last_attempt(settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.SMS_TRANSPORT = "notifications.transports.HttpJsonSmsTransport"
    server = Scripted(*[(503, {}, {}, 0)] * 3)
    settings.SMS_GATEWAY_URL = server.url
    notification = code_sms()
    try:
        outcomes = [services.notification_deliver(notification_id=notification.pk) for _ in range(3)]
    finally:
        server.close()
    assert [o for o, _ in outcomes] == ["retry", "retry", "failed"]
    assert 15 <= outcomes[0][1] <= 30 and 30 <= outcomes[1][1] <= 60  # base 30 s, doubling, with jitter
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert "503" in notification.last_error


@pytest.mark.django_db
def test_a_permanent_error_is_not_retried(settings):
    settings.SMS_TRANSPORT = "notifications.transports.HttpJsonSmsTransport"
    server = Scripted((400, {"error": "no such number"}, {}, 0))
    settings.SMS_GATEWAY_URL = server.url
    notification = code_sms()
    try:
        assert services.notification_deliver(notification_id=notification.pk) == ("failed", None)
    finally:
        server.close()
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", 1)


@pytest.mark.django_db
def test_the_sweeper_requeues_stuck_and_overdue_rows(gateway, settings):
    settings.NOTIFICATION_STUCK_SECONDS = 60
    settings.NOTIFICATION_REQUEUE_SECONDS = 60
    stuck, overdue, fresh, scheduled = code_sms(1), code_sms(2), code_sms(3), code_sms(4)
    long_ago = timezone.now() - timedelta(minutes=10)
    Notification.objects.filter(pk=stuck.pk).update(
        status=Status.SENDING, sending_started_at=long_ago, attempts=1
    )
    Notification.objects.filter(pk=overdue.pk).update(next_attempt_at=long_ago)
    Notification.objects.filter(pk=scheduled.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert services.notifications_sweep() == 2  # tasks run eagerly in tests: both are sent now
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert statuses == {stuck.pk: "sent", overdue.pk: "sent", fresh.pk: "pending", scheduled.pk: "pending"}
    assert len(gateway.messages()) == 2


@pytest.mark.django_db
def test_resend_from_the_admin_reaches_the_gateway_again_but_never_for_a_code(
    client, gateway, officer_x, firm_a, django_capture_on_commit_callbacks
):
    import pyotp
    from allauth.mfa.totp.internal.auth import TOTP

    code = code_sms(9)
    services.notification_deliver(notification_id=code.pk)
    [notification_id] = services.notify(
        "organisation.verified",
        firm_a.organisation,
        recipients=[firm_a.driver],
        context={"organisation": "A"},
    )
    services.notification_deliver(notification_id=notification_id)
    assert len(gateway.messages()) == 2
    Notification.objects.filter(pk__in=[code.pk, notification_id]).update(
        status=Status.FAILED, last_error="x"
    )
    officer_x.is_superuser = True
    officer_x.save()
    TOTP.activate(officer_x, pyotp.random_base32())
    client.force_login(officer_x)
    changelist = reverse("admin:notifications_notification_changelist")
    assert client.get(changelist).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "resend", "_selected_action": [code.pk, notification_id]})
    statuses = dict(
        Notification.objects.filter(pk__in=[code.pk, notification_id]).values_list("pk", "status")
    )
    assert statuses == {code.pk: "failed", notification_id: "sent"}
    assert (len(gateway.messages()), gateway.duplicates) == (3, 0)  # a new send key: a new message


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_delivery_reports(client, gateway, settings):
    settings.SMS_GATEWAY_WEBHOOK_SECRET = "s3cret"
    notification = code_sms()
    services.notification_deliver(notification_id=notification.pk)
    url = reverse("notifications:delivery_report")

    def post(payload, secret="s3cret", raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        return client.post(
            url,
            body,
            content_type="application/json",
            headers={"X-Landport-Signature": sign(body, secret)} if secret else {},
        )

    assert post({"message_id": "gw-1", "status": "delivered"}, secret="wrong").status_code == 403
    assert post({"message_id": "gw-1", "status": "delivered"}, secret=None).status_code == 403
    assert post(None, raw=b"{not json").status_code == 400
    assert post({"message_id": "gw-1", "status": "teleported"}).status_code == 400
    assert post({"message_id": "gw-999", "status": "delivered"}).status_code == 404
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert post({"message_id": "gw-1", "status": "delivered"}).status_code == 200
    notification.refresh_from_db()
    assert notification.status == "delivered" and notification.delivered_at is not None
    outcomes = list(DeliveryReport.objects.order_by("id").values_list("outcome", "signature_valid"))
    assert outcomes == [
        ("bad or missing signature", False),
        ("bad or missing signature", False),
        ("malformed report", True),
        ("malformed report", True),
        ("no such message", True),
        ("delivered", True),
    ]


@pytest.mark.django_db
def test_a_failed_delivery_report_marks_the_row_failed(client, gateway, settings):
    settings.SMS_GATEWAY_WEBHOOK_SECRET = "s3cret"
    notification = code_sms()
    services.notification_deliver(notification_id=notification.pk)
    body = json.dumps(
        {"reference": notification.idempotency_key, "status": "failed", "error": "absent"}
    ).encode()
    response = client.post(
        reverse("notifications:delivery_report"),
        body,
        content_type="application/json",
        headers={"X-Landport-Signature": sign(body, "s3cret")},
    )
    assert response.status_code == 200
    notification.refresh_from_db()
    assert (notification.status, notification.last_error) == ("failed", "gateway: absent")


@pytest.mark.django_db
def test_unsigned_delivery_reports_are_few_and_short(client, settings):
    settings.DELIVERY_REPORTS_REFUSED_PER_MINUTE = 3
    url = reverse("notifications:delivery_report")
    statuses = [client.post(url, b"x" * 5000, content_type="application/json").status_code for _ in range(5)]
    assert statuses == [403, 403, 403, 429, 429]
    assert [len(r.body) for r in DeliveryReport.objects.all()] == [200, 200, 200]


def test_twilio_acceptance_without_a_sid_is_not_sent_again(settings):
    server = Scripted((201, "not json", {}, 0))
    settings.TWILIO_API_BASE, settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = (
        server.url,
        "AC1",
        "tok",
    )
    try:
        assert TwilioSmsTransport().send(Sms(to="+77010000001", body="hi")) == ""
    finally:
        server.close()
