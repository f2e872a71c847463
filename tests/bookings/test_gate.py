"""The gate: every answer of a scan, check-in, inspection result and exit, the pages and the
scan API with their permissions, offline scans sent later, and two officers at one pass."""

import base64
import re
import threading
from datetime import timedelta

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from bookings import gate, passes, services
from bookings.models import Booking, GateEvent, Pass, Slot
from declarations.models import Declaration
from notifications.models import Notification
from portal import roles
from portal.errors import ApplicationError
from portal.models import Port, User
from tests.bookings.conftest import port_day, slot_at
from tests.factories import VehicleFactory, officer

pytestmark = pytest.mark.django_db


# --- bookings at the gate's clock


def booking_for(firm, port, *, status="accepted", hour=10, vehicle=None):
    """A booking of firm's new truck on tomorrow's energy slot, its declaration in ``status``."""
    vehicle = vehicle or VehicleFactory(organisation=firm.organisation)
    declaration = Declaration.objects.create(
        reference=f"GATE-{vehicle.pk:06d}",
        organisation=firm.organisation,
        declarant=firm.declarant,
        port=port,
        direction="import",
        cargo_category="energy",
        vehicle=vehicle,
        driver=firm.driver.driver,
        status=status,
        channel="green",
    )
    slot = slot_at(port, "energy", port_day(port), hour)
    return services.booking_create(actor=firm.dispatcher, declaration=declaration, slot=slot)


def shift(booking, start) -> Pass:
    """Put the booking on a slot starting at ``start`` and issue its pass anew: slots are booked
    ahead of time, while the gate scans now."""
    slot, _created = Slot.objects.get_or_create(
        lane_id=booking.slot.lane_id,
        starts_at=start,
        defaults={"port": booking.port, "ends_at": start + timedelta(hours=1), "capacity": 10, "booked": 1},
    )
    Booking.objects.filter(pk=booking.pk).update(slot=slot)
    Pass.objects.filter(booking=booking, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return services.pass_issue(Booking.objects.select_related("port", "slot").get(pk=booking.pk))


def border_officer(ports=("KHG",), *, mfa=True):
    user = officer(roles.BORDER_INSPECTION_OFFICER, list(ports))
    if mfa:
        TOTP.activate(user, pyotp.random_base32())
    return User.objects.get(pk=user.pk)


@pytest.fixture
def border(db):
    """A border inspection officer at Khorgos with two-factor authentication."""
    return border_officer()


@pytest.fixture
def booking(firm_a, khorgos):
    """Firm A's truck, its declaration accepted, its slot begun ten minutes ago."""
    made = booking_for(firm_a, khorgos)
    shift(made, timezone.now() - timedelta(minutes=10))
    return Booking.objects.get(pk=made.pk)


@pytest.fixture
def live(booking):
    return services.live_pass(booking)


def scan(who, port, text, **kwargs):
    return gate.scan(officer=who, port=port, text=text, **kwargs)


def unchanged(booking):
    booking.refresh_from_db()
    return booking.status == "active" and booking.checked_in_at is None


# --- admit


def test_admit_checks_the_truck_in_and_uses_the_pass(border, booking, live, khorgos, firm_a):
    before = timezone.now()
    result = scan(border, khorgos, live.token, client_nonce="n-1")
    assert (result.admitted, result.reason, result.message, result.replayed) == (True, "", "", False)
    booking.refresh_from_db()
    live.refresh_from_db()
    assert booking.status == "checked_in"
    assert before <= booking.checked_in_at <= timezone.now()
    assert booking.port_delay_seconds == int((booking.checked_in_at - booking.slot.starts_at).total_seconds())
    assert 595 <= booking.port_delay_seconds <= 660
    assert live.used_at == booking.checked_in_at
    event = GateEvent.objects.get()
    assert (event.kind, event.reason, event.booking, event.pass_obj, event.officer, event.port) == (
        "admit",
        "",
        booking,
        live,
        border,
        khorgos,
    )
    assert (event.client_nonce, event.offline, event.used_twice) == ("n-1", False, False)


def test_the_firm_hears_of_the_check_in_after_commit(
    border, booking, live, khorgos, firm_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        scan(border, khorgos, live.token)
        assert not Notification.objects.filter(event="booking.checked_in").exists()
    assert callbacks
    told = set(Notification.objects.filter(event="booking.checked_in").values_list("recipient", flat=True))
    assert told == {firm_a.dispatcher.pk, firm_a.driver.pk}


def test_the_short_code_is_read_as_people_type_it(border, booking, live, khorgos):
    typed = f" {passes.format_short_code(live.short_code).lower()} "
    assert scan(border, khorgos, typed).admitted


def test_a_link_to_the_pass_in_the_qr_code_is_read_too(border, booking, live, khorgos):
    assert scan(border, khorgos, f"https://landport.example/p/{live.token}/").admitted


def test_the_plate_is_compared_as_plates_are(border, booking, live, khorgos):
    plate = booking.vehicle.plate.replace("A", "А").replace("C", "С").lower()  # Cyrillic look-alikes
    assert plate != booking.vehicle.plate
    assert scan(border, khorgos, live.token, plate_seen=plate).admitted


def statements(captured) -> list[str]:
    """The SQL a scan sends, without the savepoints of the test's own transaction (in
    production the scan's transaction is BEGIN ... COMMIT)."""
    return [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_an_admit_scan_takes_five_statements(border, booking, live, khorgos):
    passes.verify(live.token)  # the list of ports behind the keys is read once a minute, not per scan
    port = gate.scanner_port(border, "KHG")  # as the page and the API find it, with its policy
    with CaptureQueriesContext(connection) as captured:
        result = scan(border, port, live.token, client_nonce="q-1")
    assert result.admitted
    sent = statements(captured)
    assert [sql.split(" ", 1)[0] for sql in sent] == ["SELECT", "UPDATE", "UPDATE", "INSERT", "INSERT"], sent
    # The check-in message is recorded for a worker, not written here.
    assert '"notifications_notificationrequest"' in sent[3]


def test_a_refusal_takes_two_statements(border, booking, live, khorgos):
    scan(border, khorgos, live.token)
    port = gate.scanner_port(border, "KHG")
    with CaptureQueriesContext(connection) as captured:
        result = scan(border, port, live.token, client_nonce="q-2")
    assert result.reason == "already_used"
    assert [sql.split(" ", 1)[0] for sql in statements(captured)] == ["SELECT", "INSERT"]


def test_a_scan_api_request_takes_seven_statements_once_the_token_is_known(
    border, booking, live, khorgos, token_api_as
):
    """Rights and two-factor in one read, the port from the officer's ports, the scan's five
    statements, the goods for the answer; the token's user comes from the cache."""
    client = token_api_as(border)
    client.get(reverse("api:me"))  # the token's first use
    passes.verify(live.token)  # the ports behind the keys, read once a minute
    with CaptureQueriesContext(connection) as captured:
        answer = client.post(
            reverse("api:gate_scan"), {"port": "KHG", "text": live.token, "client_nonce": "n-7"}
        )
    assert answer.json()["result"] == "admit"
    # Without the cache's own table (the API throttle), which is Redis in production.
    sent = [sql for sql in statements(captured) if '"cache"' not in sql]
    assert len(sent) == 7, "\n".join(q[:120] for q in sent)


# --- every refusal, one by one; each is recorded and changes nothing else


def _refused(who, port, text, reason, booking=None, **kwargs):
    events = GateEvent.objects.count()
    result = scan(who, port, text, **kwargs)
    assert (result.admitted, result.reason) == (False, reason)
    assert result.message == gate.reason_message(reason, result.booking) != ""
    event = GateEvent.objects.order_by("-id").first()
    assert GateEvent.objects.count() == events + 1
    assert (event.kind, event.reason, event.officer, event.port) == ("refuse", reason, who, port)
    if booking is not None:
        assert unchanged(booking)
        assert not Pass.objects.filter(booking=booking, used_at__isnull=False).exists()
    return result


def test_refused_not_a_pass_and_unknown_code(border, booking, khorgos):
    _refused(border, khorgos, "hello", "not_a_pass", booking)
    _refused(border, khorgos, "", "not_a_pass", booking)
    _refused(border, khorgos, "ABCDE-FGHJK", "unknown_code", booking)


def test_refused_bad_signature(border, booking, live, khorgos):
    claims = passes.verify(live.token)
    forged = passes.sign(claims)  # the real claims...
    raw = base64.b32decode(forged + "=" * (-len(forged) % 8))
    body = raw[:24]
    for key in (Ed25519PrivateKey.generate(), passes.private_key("TKS")):  # ...signed by another key
        token = base64.b32encode(body + key.sign(body)).decode().rstrip("=")
        assert _refused(border, khorgos, token, "bad_signature", booking).booking is None


def test_refused_other_port(border, booking, live, khorgos):
    takshken = Port.objects.get(code="TKS")
    both = border_officer(["KHG", "TKS"])
    result = _refused(both, takshken, live.token, "other_port", booking)
    assert result.message == f"This pass is for another port: {khorgos.name}."
    _refused(both, takshken, live.short_code, "other_port", booking)


def test_refused_cancelled_and_replaced_passes(firm_a, border, khorgos):
    cancelled = booking_for(firm_a, khorgos, hour=10)
    old = services.live_pass(cancelled)
    services.booking_cancel(actor=firm_a.dispatcher, booking=cancelled)
    _refused(border, khorgos, old.token, "cancelled")  # before "too early": the order officers expect
    moved = booking_for(firm_a, khorgos, hour=11)
    replaced = services.live_pass(moved)
    services.booking_move(
        actor=firm_a.dispatcher, booking=moved, slot=slot_at(khorgos, "energy", port_day(khorgos), 12)
    )
    _refused(border, khorgos, replaced.short_code, "cancelled", moved)


def test_refused_already_used_on_a_replay(border, booking, live, khorgos):
    assert scan(border, khorgos, live.token).admitted
    _refused(border, khorgos, live.token, "already_used")
    _refused(border, khorgos, live.short_code, "already_used")
    assert GateEvent.objects.filter(kind="admit").count() == 1


def test_refused_too_early_and_too_late_outside_the_tolerance(firm_a, border, khorgos):
    policy = services.policy_of(khorgos)
    early, late = timedelta(minutes=policy.early_minutes), timedelta(minutes=policy.late_minutes)
    now = timezone.now()
    cases = [
        (now + early + timedelta(minutes=2), "too_early"),
        (now + early - timedelta(minutes=2), ""),
        (now - timedelta(hours=1) - late + timedelta(minutes=2), ""),
        (now - timedelta(hours=1) - late - timedelta(minutes=2), "too_late"),
    ]
    for hour, (start, reason) in enumerate(cases, start=9):
        made = booking_for(firm_a, khorgos, hour=hour)
        token = shift(made, start).token
        if reason:
            _refused(border, khorgos, token, reason, made)
        else:
            assert scan(border, khorgos, token).admitted
    tomorrow = booking_for(firm_a, khorgos, hour=14)
    _refused(border, khorgos, services.live_pass(tomorrow).token, "too_early", tomorrow)


def test_a_no_show_is_refused_as_too_late_not_as_cancelled(border, booking, live, khorgos):
    """The no-show task revokes the pass when the slot and its grace period are over: the
    driver who turns up after that is too late, whatever the tolerance says."""
    from bookings import operations

    shift_start = timezone.now() - timedelta(hours=3)
    ended = shift(booking, shift_start)
    assert operations.booking_no_show(
        booking_id=booking.pk, slot_id=Booking.objects.get(pk=booking.pk).slot_id
    )
    ended.refresh_from_db()
    assert ended.revoked_at is not None
    result = scan(border, khorgos, ended.token)
    assert (result.admitted, result.reason) == (False, "too_late")
    assert result.message == "Too late for this slot."


def test_refused_declaration_not_accepted(firm_a, border, khorgos, submitted, energy_slot):
    made = services.booking_create(actor=firm_a.dispatcher, declaration=submitted, slot=energy_slot)
    token = shift(made, timezone.now()).token
    assert Declaration.objects.get(pk=submitted.pk).status == "submitted"
    _refused(border, khorgos, token, "declaration_not_accepted", made)


def test_refused_vehicle_mismatch(border, booking, live, khorgos):
    _refused(border, khorgos, live.token, "vehicle_mismatch", booking, plate_seen="999 XYZ 99")


def test_an_officer_of_another_port_cannot_scan_here(booking, live, khorgos):
    takshken_only = border_officer(["TKS"])
    with pytest.raises(PermissionDenied):
        scan(takshken_only, khorgos, live.token)
    assert GateEvent.objects.count() == 0
    assert unchanged(booking)


# --- a retried scan is recorded once


def test_a_retried_scan_with_the_same_nonce_is_recorded_once(border, booking, live, khorgos):
    first = scan(border, khorgos, live.token, client_nonce="retry-1")
    again = scan(border, khorgos, live.token, client_nonce="retry-1")
    assert (first.admitted, first.replayed) == (True, False)
    assert (again.admitted, again.replayed, again.event.pk) == (True, True, first.event.pk)
    refused = scan(border, khorgos, live.token, client_nonce="retry-2")
    refused_again = scan(border, khorgos, live.token, client_nonce="retry-2")
    assert (refused_again.reason, refused_again.replayed) == ("already_used", True)
    assert refused_again.event.pk == refused.event.pk
    assert GateEvent.objects.count() == 2


# --- inspection result and exit


def test_release_then_exit(border, booking, live, khorgos, firm_a, django_capture_on_commit_callbacks):
    scan(border, khorgos, live.token)
    with django_capture_on_commit_callbacks(execute=True):
        event = gate.inspect(officer=border, booking=booking, released=True, comment="Documents fine")
    booking.refresh_from_db()
    assert (booking.status, booking.declaration.status) == ("released", "released")
    assert (event.kind, event.reason, event.comment, event.officer) == (
        "release",
        "",
        "Documents fine",
        border,
    )
    told = set(Notification.objects.filter(event="booking.released").values_list("recipient", flat=True))
    assert told == {firm_a.dispatcher.pk, firm_a.driver.pk}
    assert booking.declaration.events.order_by("-id").first().actor == border
    gate.exit(officer=border, booking=booking)
    booking.refresh_from_db()
    assert booking.status == "exited"
    assert list(GateEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "admit",
        "release",
        "exit",
    ]


def test_a_hold_needs_a_reason_and_a_held_truck_is_released_later(border, booking, live, khorgos):
    scan(border, khorgos, live.token)
    for reason, comment, code in [
        ("", "", "reason_required"),
        ("later", "", "reason_required"),
        ("other", " ", "comment_required"),
    ]:
        with pytest.raises(ApplicationError) as error:
            gate.inspect(officer=border, booking=booking, released=False, reason=reason, comment=comment)
        assert error.value.code == code
    booking.refresh_from_db()
    assert booking.status == "checked_in"
    held = gate.inspect(officer=border, booking=booking, released=False, reason="seal", comment="Seal broken")
    assert (held.kind, held.reason, held.comment) == ("hold", "seal", "Seal broken")
    assert Booking.objects.get(pk=booking.pk).status == "held"
    gate.inspect(officer=border, booking=booking, released=True)
    assert Booking.objects.get(pk=booking.pk).status == "released"


def test_no_release_or_exit_before_check_in_and_no_exit_twice(border, booking, live, khorgos):
    for step in (
        lambda: gate.inspect(officer=border, booking=booking, released=True),
        lambda: gate.exit(officer=border, booking=booking),
    ):
        with pytest.raises(ApplicationError) as error:
            step()
        assert error.value.code == "transition_not_allowed"
    assert unchanged(booking)
    assert Declaration.objects.get(pk=booking.declaration_id).status == "accepted"
    scan(border, khorgos, live.token)
    gate.inspect(officer=border, booking=booking, released=True)
    gate.exit(officer=border, booking=booking)
    with pytest.raises(ApplicationError):
        gate.exit(officer=border, booking=booking)
    assert GateEvent.objects.filter(kind="exit").count() == 1


def test_only_scanners_of_the_port_record_results(booking, live, khorgos, officer_x, border):
    scan(border, khorgos, live.token)
    for outsider in (border_officer(["TKS"]), officer_x):
        with pytest.raises(PermissionDenied):
            gate.inspect(officer=outsider, booking=booking, released=True)
    assert Booking.objects.get(pk=booking.pk).status == "checked_in"


# --- offline scans, sent later


def _sync(client, port, scans):
    return client.post(reverse("api:gate_scans"), {"port": port, "scans": scans}, format="json")


def _offline(token, nonce, result="admit", minutes_ago=3, reason=""):
    return {
        "client_nonce": nonce,
        "token": token,
        "scanned_at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat(),
        "offline_result": result,
        "reason": reason,
    }


def test_an_offline_admit_checks_the_truck_in_at_the_device_time(api_as, border, booking, live):
    scan_ = _offline(live.token, "off-1")
    response = _sync(api_as(border), "KHG", [scan_])
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "client_nonce": "off-1",
            "result": "admit",
            "reason": "",
            "used_twice": False,
            "replayed": False,
            "event": GateEvent.objects.get().pk,
        }
    ]
    event = GateEvent.objects.get()
    booking.refresh_from_db()
    assert (event.offline, event.kind, booking.status) == (True, "admit", "checked_in")
    assert event.scanned_at.isoformat() == scan_["scanned_at"] == booking.checked_in_at.isoformat()


def test_a_pass_admitted_online_then_offline_is_flagged_used_twice(api_as, border, booking, live, khorgos):
    assert scan(border, khorgos, live.token).admitted
    response = _sync(api_as(border), "KHG", [_offline(live.token, "off-2")])
    assert response.json()["results"][0] | {"event": None} == {
        "client_nonce": "off-2",
        "result": "admit",
        "reason": "already_used",
        "used_twice": True,
        "replayed": False,
        "event": None,
    }
    flagged = GateEvent.objects.get(client_nonce="off-2")
    assert (flagged.kind, flagged.offline, flagged.used_twice, flagged.booking) == (
        "admit",
        True,
        True,
        booking,
    )
    assert GateEvent.objects.filter(kind="admit").count() == 2


def test_two_offline_admits_of_one_pass_on_two_devices(api_as, border, booking, live):
    other_device = border_officer()
    _sync(api_as(border), "KHG", [_offline(live.token, "dev-a", minutes_ago=5)])
    _sync(api_as(other_device), "KHG", [_offline(live.token, "dev-b", minutes_ago=4)])
    assert list(GateEvent.objects.order_by("client_nonce").values_list("client_nonce", "used_twice")) == [
        ("dev-a", False),
        ("dev-b", True),
    ]


def test_the_same_batch_posted_twice_is_recorded_once(api_as, border, booking, live, firm_a, khorgos):
    other = booking_for(firm_a, khorgos, hour=11)
    other_token = shift(other, timezone.now() + timedelta(days=1)).token
    batch = [
        _offline(live.token, "b-1"),
        _offline(other_token, "b-2", result="refuse", reason="too_early"),
        _offline("garbage", "b-3", result="refuse", reason="not_a_pass"),
    ]
    first = _sync(api_as(border), "KHG", batch).json()["results"]
    second = _sync(api_as(border), "KHG", batch).json()["results"]
    assert [(r["result"], r["reason"], r["replayed"]) for r in first] == [
        ("admit", "", False),
        ("refuse", "too_early", False),
        ("refuse", "not_a_pass", False),
    ]
    assert [(r["result"], r["reason"], r["replayed"]) for r in second] == [
        ("admit", "", True),
        ("refuse", "too_early", True),
        ("refuse", "not_a_pass", True),
    ]
    assert [r["event"] for r in first] == [r["event"] for r in second]
    assert GateEvent.objects.count() == 3
    assert (Booking.objects.get(pk=booking.pk).status, Booking.objects.get(pk=other.pk).status) == (
        "checked_in",
        "active",
    )


def test_an_offline_refusal_is_kept_as_the_device_decided(api_as, border, booking, live):
    """The truck was turned away: the pass stays unused even if the server would have admitted."""
    response = _sync(api_as(border), "KHG", [_offline(live.token, "r-1", result="refuse", reason="too_late")])
    assert response.json()["results"][0]["reason"] == "too_late"
    assert unchanged(booking)
    assert scan(border, booking.port, live.token).admitted


def test_an_offline_admit_the_server_objects_to_is_recorded_with_the_objection(
    api_as, border, firm_a, khorgos
):
    made = booking_for(firm_a, khorgos, status="submitted")
    token = shift(made, timezone.now()).token
    result = _sync(api_as(border), "KHG", [_offline(token, "o-1", minutes_ago=1)]).json()["results"][0]
    assert (result["result"], result["reason"], result["used_twice"]) == (
        "admit",
        "declaration_not_accepted",
        False,
    )
    assert Booking.objects.get(pk=made.pk).status == "checked_in"  # the truck is in: its booking says so


def test_an_offline_admit_of_a_no_show_is_not_taken_for_a_second_use(api_as, border, booking, live):
    Booking.objects.filter(pk=booking.pk).update(status="no_show")
    result = _sync(api_as(border), "KHG", [_offline(live.token, "ns-1")]).json()["results"][0]
    assert (result["result"], result["reason"], result["used_twice"]) == ("admit", "too_late", False)
    assert Pass.objects.get(pk=live.pk).used_at is None


def test_a_device_clock_ahead_is_not_believed(border, booking, live, khorgos):
    result = scan(
        border,
        khorgos,
        live.token,
        scanned_at=timezone.now() + timedelta(days=2),
        offline=True,
        offline_result="admit",
    )
    assert result.event.scanned_at <= timezone.now() + gate.CLOCK_SKEW


def test_sync_input_is_checked(api_as, border):
    client = api_as(border)
    bad = _sync(
        client,
        "KHG",
        [{"client_nonce": "x" * 65, "token": "t", "scanned_at": "yesterday", "offline_result": "maybe"}],
    )
    assert bad.status_code == 400
    assert set(bad.json()["extra"]["fields"]["scans"]["0"]) == {
        "client_nonce",
        "scanned_at",
        "offline_result",
    }
    assert _sync(client, "XXX", []).status_code == 400
    assert _sync(client, "TKS", []).status_code == 403
    assert GateEvent.objects.count() == 0


# --- the scan API for handhelds


def test_scan_api_answers_with_the_booking(api_as, border, booking, live):
    response = api_as(border).post(
        reverse("api:gate_scan"), {"port": "KHG", "text": live.token, "client_nonce": "h-1"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("result", "reason", "message", "offline", "used_twice", "replayed")} == {
        "result": "admit",
        "reason": "",
        "message": "",
        "offline": False,
        "used_twice": False,
        "replayed": False,
    }
    assert body["next_steps"] == ["release", "hold"]
    summary = body["booking"]
    assert (summary["id"], summary["plate"], summary["declaration"], summary["channel"]) == (
        booking.pk,
        booking.vehicle.plate,
        booking.declaration.reference,
        "green",
    )
    assert summary["driver"] == str(booking.driver.user)
    assert summary["status"] == "checked_in"
    again = api_as(border).post(
        reverse("api:gate_scan"), {"port": "KHG", "text": live.token, "client_nonce": "h-1"}, format="json"
    )
    assert (again.json()["result"], again.json()["replayed"]) == ("admit", True)
    used = api_as(border).post(
        reverse("api:gate_scan"), {"port": "KHG", "text": live.token, "client_nonce": "h-2"}, format="json"
    )
    assert (used.json()["result"], used.json()["reason"]) == ("refuse", "already_used")
    assert used.json()["message"] == "This pass has already been used."
    assert GateEvent.objects.count() == 2


def test_scan_api_speaks_the_officers_language(api_as, border, booking, live):
    User.objects.filter(pk=border.pk).update(language="ru")
    border.refresh_from_db()
    client = api_as(border)
    refused = client.post(reverse("api:gate_scan"), {"port": "KHG", "text": "hello", "client_nonce": "ru-1"})
    with translation.override("ru"):
        expected = str(gate.REASONS["not_a_pass"]), gettext("Validation error.")
    assert (refused.json()["reason"], refused.json()["message"]) == ("not_a_pass", expected[0])
    invalid = client.post(reverse("api:gate_scan"), {"port": "KHG", "text": "hello"})
    assert invalid.json()["message"] == expected[1] != "Validation error."


def test_scan_api_works_with_a_token(client, border, booking, live):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=border)
    response = client.post(
        reverse("api:gate_scan"),
        {"port": "KHG", "text": live.short_code, "client_nonce": "tok-1"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert (response.status_code, response.json()["result"]) == (200, "admit")


def test_scan_api_needs_a_nonce(api_as, border, booking, live):
    response = api_as(border).post(
        reverse("api:gate_scan"), {"port": "KHG", "text": live.token}, format="json"
    )
    assert response.status_code == 400
    assert GateEvent.objects.count() == 0


# --- who may use the gate: pages and API


@pytest.mark.parametrize(
    "who, page, api",
    [
        ("anonymous", "login", 401),
        ("admin_a", 403, 403),
        ("dispatcher_a", 403, 403),
        ("driver_a", 403, 403),
        ("declarant_b", 403, 403),
        ("officer_x", 403, 403),  # a customs officer at Khorgos: no scan permission
        ("border_without_mfa", "mfa", 403),
        ("border_of_tks", 200, 403),  # scans at Takshken, not at Khorgos
        ("border", 200, 200),
        ("superuser", "port", 200),
    ],
)
def test_who_may_use_the_gate(personas, client_as, api_as, booking, live, who, page, api):
    users = {
        **personas,
        "border_without_mfa": border_officer(mfa=False),
        "border_of_tks": border_officer(["TKS"]),
        "border": border_officer(),
        "superuser": User.objects.create_superuser(email="root@example.com", password="x" * 12),
    }
    user = users[who]
    if who == "superuser":
        TOTP.activate(user, pyotp.random_base32())
    response = client_as(user).get(reverse("gate:scanner"))
    expected = {
        "login": reverse("account_login") + "?next=/gate/",
        "mfa": reverse("mfa_activate_totp"),
        "port": reverse("gate:port"),
    }
    if isinstance(page, str):
        assert (response.status_code, response.url) == (302, expected[page])
    else:
        assert response.status_code == page
    posted = client_as(user).post(reverse("gate:scanner"), {"text": live.token, "client_nonce": f"p-{who}"})
    assert posted.status_code == (page if isinstance(page, int) else 302)
    answer = api_as(user).post(
        reverse("api:gate_scan"),
        {"port": "KHG", "text": live.token, "client_nonce": f"a-{who}"},
        format="json",
    )
    assert answer.status_code == api
    if api != 200:
        assert set(answer.json()) == {"message", "code", "extra"}
    admitted = GateEvent.objects.filter(kind="admit").count()
    assert admitted == (1 if who == "border" else 0) + (1 if who == "superuser" else 0)
    if who not in ("border", "superuser", "border_of_tks"):
        assert unchanged(booking)


def test_the_top_navigation_leads_officers_who_scan_to_the_gate(client_as, border, officer_x, firm_a):
    gate_link = f'href="{reverse("gate:scanner")}"'
    assert gate_link in client_as(border).get(reverse("profile")).content.decode()
    for other in (officer_x, firm_a.dispatcher):  # staff without the scan permission; a firm's user
        assert gate_link not in client_as(other).get(reverse("profile")).content.decode()


def test_the_page_admits_without_javascript(client_as, border, booking, live):
    client = client_as(border)
    page = client.get(reverse("gate:scanner"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="text"' in html and "autofocus" in html
    nonce = re.search(r'name="client_nonce" value="([0-9a-f]{32})"', html).group(1)
    response = client.post(reverse("gate:scanner"), {"text": live.token, "client_nonce": nonce})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-result="admit"' in html
    assert ">ADMIT<" in html
    assert booking.vehicle.plate in html and booking.declaration.reference in html
    assert (
        reverse("gate:release", args=[booking.pk]) in html and reverse("gate:hold", args=[booking.pk]) in html
    )
    # The browser's "send again" on the result page records nothing new.
    again = client.post(reverse("gate:scanner"), {"text": live.token, "client_nonce": nonce})
    assert 'data-result="admit"' in again.content.decode()
    used = client.post(reverse("gate:scanner"), {"code": live.short_code, "client_nonce": "other"})
    assert 'data-result="refuse"' in used.content.decode()
    assert "This pass has already been used." in used.content.decode()
    assert GateEvent.objects.count() == 2


def test_enter_in_an_empty_field_records_nothing(client_as, border):
    response = client_as(border).post(reverse("gate:scanner"), {"text": " ", "code": "", "client_nonce": "e"})
    assert response.status_code == 200
    assert 'id="scan-form"' in response.content.decode()
    assert GateEvent.objects.count() == 0


def test_the_script_gets_a_fragment(client_as, border, booking, live):
    response = client_as(border).post(
        reverse("gate:scanner"), {"text": "nonsense", "client_nonce": "f-1"}, HTTP_X_GATE_FRAGMENT="1"
    )
    assert response["X-Gate-Result"] == "refuse"
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="verdict refuse"')
    assert "This is not a pass." in html
    assert "<html" not in html


def test_the_page_carries_the_port_key_and_tolerances(client_as, border, khorgos):
    response = client_as(border).get(reverse("gate:scanner"))
    config = response.context["config"]
    policy = services.policy_of(khorgos)
    assert config["keys"] == {"KHG": passes.public_key_b64("KHG")}
    assert (config["port"], config["earlyMinutes"], config["lateMinutes"]) == (
        "KHG",
        policy.early_minutes,
        policy.late_minutes,
    )
    assert config["strings"]["admitOffline"] == "ADMIT (offline)"
    assert config["syncUrl"] == "/api/v1/gate/scans/"
    assert 'id="gate-config"' in response.content.decode()


def test_page_follow_ups_release_hold_exit(client_as, border, booking, live, khorgos):
    client = client_as(border)
    client.post(reverse("gate:scanner"), {"text": live.token, "client_nonce": "f-2"})
    response = client.post(reverse("gate:hold", args=[booking.pk]), {"reason": "documents", "comment": "CMR"})
    assert (response.status_code, response.url) == (302, reverse("gate:scanner"))
    assert Booking.objects.get(pk=booking.pk).status == "held"
    client.post(reverse("gate:release", args=[booking.pk]))
    assert Booking.objects.get(pk=booking.pk).status == "released"
    page = client.post(reverse("gate:exit", args=[booking.pk]), follow=True)
    assert f"Exited: {booking.vehicle.plate}." in page.content.decode()
    twice = client.post(reverse("gate:exit", args=[booking.pk]), follow=True)
    assert "cannot become exited" in twice.content.decode()
    assert list(GateEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "admit",
        "hold",
        "release",
        "exit",
    ]


def test_follow_ups_of_another_ports_booking_are_404(client_as, booking, live, khorgos, border):
    scan(border, khorgos, live.token)
    client = client_as(border_officer(["TKS"]))
    for name in ("release", "hold", "exit"):
        assert client.post(reverse(f"gate:{name}", args=[booking.pk]), {"reason": "seal"}).status_code == 404
    assert client.post(reverse("gate:release", args=[999999])).status_code == 404
    assert Booking.objects.get(pk=booking.pk).status == "checked_in"


def test_an_officer_of_two_ports_picks_one(client_as, booking, live):
    both = border_officer(["KHG", "TKS"])
    client = client_as(both)
    assert client.get(reverse("gate:scanner")).url == reverse("gate:port")
    assert client.post(reverse("gate:port"), {"port": "XXX"}).status_code == 200
    client.post(reverse("gate:port"), {"port": "TKS"})
    assert client.get(reverse("gate:scanner")).context["port"].code == "TKS"
    answer = client.post(reverse("gate:scanner"), {"text": live.token, "client_nonce": "two-1"})
    assert 'data-reason="other_port"' in answer.content.decode()
    client.post(reverse("gate:port"), {"port": "KHG"})
    answer = client.post(reverse("gate:scanner"), {"text": live.token, "client_nonce": "two-2"})
    assert 'data-result="admit"' in answer.content.decode()


def test_the_service_worker_is_served_from_the_gate(client):
    response = client.get(reverse("gate:service_worker"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert '"/gate/"' in body and "/static/gate/gate.js" in body and "/static/gate/vendor/jsQR.js" in body


# --- two officers scan one pass at the same moment (PostgreSQL, real threads)

OFFICERS = 12


def _race(port, token, officers, monkeypatch):
    """All officers scan at once, and each has read the pass as unused before any of them
    writes: the worst case, every time."""
    start, all_read = threading.Barrier(len(officers)), threading.Barrier(len(officers))
    results, lock = [], threading.Lock()
    check = gate._check

    def check_then_wait(*args):
        reason = check(*args)
        all_read.wait(timeout=30)
        return reason

    monkeypatch.setattr(gate, "_check", check_then_wait)

    def run(who):
        start.wait()
        try:
            outcome = gate.scan(officer=who, port=port, text=token)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(who,)) for who in officers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.fixture
def racers(firm_a, khorgos):
    made = booking_for(firm_a, khorgos)
    token = shift(made, timezone.now() - timedelta(minutes=5)).token
    officers = [border_officer() for _ in range(OFFICERS)]
    for who in officers:
        gate.require_scanner(who, khorgos)
    passes.verify(token)
    return made, token, officers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_officers_scanning_one_pass_at_once_admit_it_once(racers, khorgos, monkeypatch):
    made, token, officers = racers
    results = _race(khorgos, token, officers, monkeypatch)
    assert len(results) == OFFICERS
    assert sorted(r.reason for r in results) == [""] + ["already_used"] * (OFFICERS - 1)
    assert GateEvent.objects.filter(kind="admit").count() == 1
    assert GateEvent.objects.filter(kind="refuse", reason="already_used").count() == OFFICERS - 1
    assert Booking.objects.get(pk=made.pk).status == "checked_in"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_negative_control_without_the_claim_one_pass_is_admitted_by_everyone(racers, khorgos, monkeypatch):
    """Shows the race the conditional updates prevent is real on this database."""
    monkeypatch.setattr(gate, "CLAIM_CONDITIONALLY", False)
    _made, token, officers = racers
    _race(khorgos, token, officers, monkeypatch)
    assert GateEvent.objects.filter(kind="admit").count() == OFFICERS
