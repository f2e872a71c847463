"""The gate: scan a pass, check the truck in, record the inspection result and the exit.

A scan answers ADMIT or REFUSE with a stable reason code and writes one GateEvent either way.
The booking and the pass are claimed by conditional updates (in the order the booking
services lock them: booking, then pass), so two officers scanning one pass at the same moment
admit it once. A client nonce makes a retried scan (a handheld resending after a timeout, an
offline batch posted twice) count once: the second call returns what the first recorded.

Scans made while the scanner had no network arrive later with the device's time. The server
checks them again, but the device's decision is what happened at the gate: a truck admitted
offline is recorded as admitted, and if its pass had been used meanwhile the event carries
``used_twice`` instead of being dropped.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Exists, Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings import passes
from bookings.models import Booking, BookingPolicy, BookingStatus, GateEvent, GateEventKind, Pass
from bookings.services import _tell, policy_of
from declarations.models import Status as DeclarationStatus
from declarations.services import declaration_release
from portal.cache import now_and_after_commit
from portal.errors import ApplicationError
from portal.joined import JoinedRead
from portal.models import Port
from portal.plates import plate_normalise

SCAN_PERMISSION = "bookings.scan_pass"

# Switched off only by the concurrency test's negative control, to show the race is real.
CLAIM_CONDITIONALLY = True

# Refusal reasons: stable codes for the API and the event log, a headline for the officer.
REASONS = {
    "not_a_pass": gettext_lazy("This is not a pass."),
    "unknown_code": gettext_lazy("No pass has this code."),
    "bad_signature": gettext_lazy("Bad signature: this pass was not issued by the port."),
    "other_port": gettext_lazy("This pass is for another port."),
    "cancelled": gettext_lazy("This pass was cancelled."),
    "already_used": gettext_lazy("This pass has already been used."),
    "too_early": gettext_lazy("Too early for this slot."),
    "too_late": gettext_lazy("Too late for this slot."),
    "declaration_not_accepted": gettext_lazy("The declaration is not accepted."),
    "vehicle_mismatch": gettext_lazy("This is not the booked vehicle."),
    # Only from a scanner that refused offline without saying why.
    "offline": gettext_lazy("Refused offline."),
}

# Why a truck is held after check-in; "other" needs a comment.
HOLD_REASONS = {
    "inspection": gettext_lazy("Physical inspection"),
    "documents": gettext_lazy("Documents to check"),
    "seal": gettext_lazy("Seal or load does not match"),
    "sanitary": gettext_lazy("Sanitary or phytosanitary control"),
    "duties": gettext_lazy("Duties not paid"),
    "other": gettext_lazy("Other (see the comment)"),
}

# A device clock ahead of the server is trusted up to this much; later times are "now".
CLOCK_SKEW = timedelta(minutes=5)

_ALREADY_THROUGH = {
    BookingStatus.CHECKED_IN,
    BookingStatus.RELEASED,
    BookingStatus.HELD,
    BookingStatus.EXITED,
}


# --- who may scan where


def _scanner_rights(user) -> tuple[list[Port], bool]:
    """The ports where ``user`` may scan and whether they have two-factor authentication:
    kept on the user object for the request, and in the cache between requests."""
    cached = getattr(user, "_gate_rights", None)
    if cached is not None:
        return cached
    if not (user.is_authenticated and user.is_active and user.is_staff):
        rights = [], False
    elif not settings.GATE_RIGHTS_CACHE_SECONDS:
        rights = _scanner_rights_read(user)
    else:
        key, stamp_key = _RIGHTS_KEY % user.pk, _RIGHTS_STAMP % user.pk
        found = cache.get_many([_RIGHTS_GENERATION, stamp_key, key])
        generation = found.get(_RIGHTS_GENERATION) or _new_stamp(_RIGHTS_GENERATION)
        stamp = found.get(stamp_key) or _new_stamp(stamp_key)
        entry = found.get(key)
        if entry is not None and entry[:2] == (generation, stamp):
            rights = entry[2]
        else:
            rights = _scanner_rights_read(user)
            # Stamped with what was read before the rights: a change committed meanwhile
            # has moved the generation or the officer's stamp on, and this entry is never used.
            cache.set(key, (generation, stamp, rights), settings.GATE_RIGHTS_CACHE_SECONDS)
    user._gate_rights = rights
    return rights


def _scanner_rights_read(user) -> tuple[list[Port], bool]:
    """In one query: staff with the scan permission (their own or a group's), at their own
    ports; superusers at all."""
    ports = (Port.objects.all() if user.is_superuser else user.ports.all()).select_related("booking_policy")
    if not user.is_superuser:
        app_label, codename = SCAN_PERMISSION.split(".")
        granted = Permission.objects.filter(content_type__app_label=app_label, codename=codename).filter(
            Q(user=user) | Q(group__user=user)
        )
        ports = ports.filter(Exists(granted))
    ports = list(ports.annotate(officer_mfa=Exists(Authenticator.objects.filter(user_id=user.pk))))
    return ports, bool(ports) and ports[0].officer_mfa


# An officer's rights are read on every scan and change seldom. Each entry carries the
# officer's stamp and the generation of all rights: a change to one officer (their ports,
# groups, permissions, authenticators, the user itself) gives them a new stamp; a change
# that concerns many (a group's permissions, a port, a port's policy) a new generation.
# Now and again after commit, as for API tokens. The keys name their layout's version.
_RIGHTS_KEY = "gate-rights:v1:%s"
_RIGHTS_STAMP = "gate-rights-stamp:%s"
_RIGHTS_GENERATION = "gate-rights-generation"


def _new_stamp(key: str) -> str:
    """The stamp at ``key``, made if there is none (whoever adds first wins)."""
    cache.add(key, uuid.uuid4().hex, None)
    return cache.get(key)


def _restamp(key: str) -> None:
    if settings.GATE_RIGHTS_CACHE_SECONDS:
        now_and_after_commit(lambda: cache.set(key, uuid.uuid4().hex, None))


def rights_forget_user(sender, instance=None, user=None, **kwargs):
    _restamp(_RIGHTS_STAMP % (user if user is not None else instance.pk))


def rights_forget_all(sender, **kwargs):
    _restamp(_RIGHTS_GENERATION)


def _m2m_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_"):
        return
    if isinstance(instance, get_user_model()):
        rights_forget_user(sender, instance=instance)
    else:  # from the other side (a port's officers, a group's members), or a group's permissions
        rights_forget_all(sender)


def _authenticator_changed(sender, instance, **kwargs):
    rights_forget_user(sender, user=instance.user_id)


def connect() -> None:
    user_model = get_user_model()
    for name, signal in (("saved", post_save), ("deleted", post_delete)):
        signal.connect(rights_forget_user, sender=user_model, dispatch_uid=f"gate.rights.user_{name}")
        signal.connect(_authenticator_changed, sender=Authenticator, dispatch_uid=f"gate.rights.mfa_{name}")
        for model in (Port, BookingPolicy, Group, Permission):
            signal.connect(
                rights_forget_all, sender=model, dispatch_uid=f"gate.rights.{model.__name__}_{name}"
            )
    m2m = (user_model.ports, user_model.groups, user_model.user_permissions, Group.permissions)
    for field in m2m:
        m2m_changed.connect(
            _m2m_changed, sender=field.through, dispatch_uid=f"gate.rights.{field.through.__name__}"
        )


def scanner_ports(user) -> list[Port]:
    return _scanner_rights(user)[0]


def scanner_has_mfa(user) -> bool:
    """For a user with ports to scan at (``scanner_ports``): two-factor authentication is set up."""
    return _scanner_rights(user)[1]


def scanner_port(user, code: str) -> Port | None:
    """One of the user's scanning ports by its code, without a query."""
    return next((p for p in scanner_ports(user) if p.code == code), None)


def require_scanner(user, port: Port) -> None:
    ports = scanner_ports(user)
    if not ports:
        raise PermissionDenied(_("You cannot scan passes."))
    if port.pk not in {p.pk for p in ports}:
        raise PermissionDenied(_("You do not work at this port."))


# --- scanning


@dataclass(frozen=True)
class ScanResult:
    event: GateEvent
    booking: Booking | None
    # The client nonce was recorded before: this is that earlier answer, unchanged.
    replayed: bool = False

    @property
    def admitted(self) -> bool:
        return self.event.kind == GateEventKind.ADMIT

    @property
    def reason(self) -> str:
        return self.event.reason

    @property
    def message(self) -> str:
        return reason_message(self.event.reason, self.booking) if self.event.reason else ""

    @property
    def offline(self) -> bool:
        return self.event.offline

    @property
    def used_twice(self) -> bool:
        return self.event.used_twice


def reason_message(reason: str, booking: Booking | None = None) -> str:
    if reason == "other_port" and booking is not None:
        return _("This pass is for another port: %(port)s.") % {"port": booking.port.name}
    return str(REASONS.get(reason, reason))


# Everything an admitting scan checks and shows, in the one query that finds the pass (the
# port is the scanning one; a refusal for another port reads that port's name).
_BOOKING_RELATED = ["slot__lane", "declaration", "vehicle", "driver__user"]
_PASS_READ = JoinedRead(Pass, [f"booking__{r}" for r in _BOOKING_RELATED])


def _find_pass(text: str, port: Port) -> tuple[Pass | None, str]:
    """The pass a scanned token or a typed short code names, or why there is none."""
    # A QR code may hold a link to the pass rather than the token alone.
    text = text.strip().rstrip("/").rsplit("/", 1)[-1]
    if not passes.looks_like_token(text):
        code = passes.normalise_short_code(text)
        if len(code) != passes.SHORT_CODE_LENGTH:
            return None, "not_a_pass"
        found = _PASS_READ.first(short_code=code)
        return found, "" if found else "unknown_code"
    try:
        claims = passes.verify(text)
    except passes.PassError as error:
        return None, error.reason
    found = _PASS_READ.first(nonce=claims.nonce, booking_id=claims.booking_id)
    if claims.port_code != port.code:
        return found, "other_port"
    if found is None:
        return None, "unknown_code"
    if (
        found.booking.port_id != port.pk  # the claims named this port, checked above
        or claims.valid_from != found.valid_from.replace(second=0, microsecond=0)
        or claims.valid_until != found.valid_until.replace(second=0, microsecond=0)
    ):
        # Signed, but not what was issued: only a leaked key of another port makes one.
        return None, "bad_signature"
    return found, ""


def _policy(port: Port) -> BookingPolicy:
    try:
        return port.booking_policy  # joined when the officer's ports were read
    except ObjectDoesNotExist:
        return policy_of(port)


def _check(pass_obj: Pass, port: Port, moment: datetime, plate_seen: str) -> str:
    """The first reason to refuse, in the order officers expect; "" to admit."""
    booking = pass_obj.booking
    if booking.port_id != port.pk:
        return "other_port"
    if booking.status == BookingStatus.NO_SHOW:  # its pass was revoked when its slot ended
        return "too_late"
    if pass_obj.revoked_at is not None or booking.status == BookingStatus.CANCELLED:
        return "cancelled"
    if pass_obj.used_at is not None or booking.status in _ALREADY_THROUGH:
        return "already_used"
    policy = _policy(port)  # the booking's port, as checked above
    if moment < pass_obj.valid_from - timedelta(minutes=policy.early_minutes):
        return "too_early"
    if moment > pass_obj.valid_until + timedelta(minutes=policy.late_minutes):
        return "too_late"
    if booking.declaration.status != DeclarationStatus.ACCEPTED:
        return "declaration_not_accepted"
    if plate_seen.strip() and plate_normalise(plate_seen) != booking.vehicle.plate_normalised:
        return "vehicle_mismatch"
    return ""


def _claim(pass_obj: Pass, port: Port, moment: datetime) -> str:
    """Check the booking in and mark its pass used; "" if this scan won, else the reason."""
    booking = pass_obj.booking
    changes = {
        "status": BookingStatus.CHECKED_IN,
        "checked_in_at": moment,
        "port_delay_seconds": int((moment - booking.slot.starts_at).total_seconds()),
        "updated_at": timezone.now(),
    }
    if not CLAIM_CONDITIONALLY:  # the race, for the negative control only
        Booking.objects.filter(pk=booking.pk).update(**changes)
        Pass.objects.filter(pk=pass_obj.pk).update(used_at=moment)
    else:
        if not Booking.objects.filter(pk=booking.pk, status=BookingStatus.ACTIVE).update(**changes):
            status = Booking.objects.filter(pk=booking.pk).values_list("status", flat=True).first()
            if status == BookingStatus.CANCELLED:
                return "cancelled"
            return "already_used" if status in _ALREADY_THROUGH else "too_late"  # or a no-show
        claimed = Pass.objects.filter(pk=pass_obj.pk, used_at__isnull=True, revoked_at__isnull=True).update(
            used_at=moment
        )
        if not claimed:  # replaced by a move, or used, since it was read: put the booking back
            Booking.objects.filter(pk=booking.pk).update(
                status=BookingStatus.ACTIVE, checked_in_at=None, port_delay_seconds=None
            )
            revoked = Pass.objects.filter(pk=pass_obj.pk, revoked_at__isnull=False).exists()
            return "cancelled" if revoked else "already_used"
    for field, value in changes.items():
        setattr(booking, field, value)
    pass_obj.used_at = moment
    booking.port = port  # the booking's port, as _check saw: no need to read it again
    # Recorded with the scan and written by a worker: the officer's answer never waits for
    # the firm's message.
    _tell("booking.checked_in", booking, later=True, live=pass_obj)
    return ""


def scan(
    *,
    officer,
    port: Port,
    text: str,
    client_nonce: str | None = None,
    plate_seen: str = "",
    scanned_at: datetime | None = None,
    offline: bool = False,
    offline_result: str = "",
    offline_reason: str = "",
) -> ScanResult:
    """Scan a token or a typed short code at ``port`` and record the answer.

    ``offline``: sent later by a scanner that decided on its own (``offline_result`` "admit"
    or "refuse", ``offline_reason`` its code) at ``scanned_at``, the device's time.
    """
    require_scanner(officer, port)
    now = timezone.now()
    moment = min(scanned_at, now + CLOCK_SKEW) if scanned_at else now
    client_nonce = (client_nonce or "").strip() or None
    if client_nonce and len(client_nonce) > GateEvent._meta.get_field("client_nonce").max_length:
        raise ApplicationError(_("The scan's nonce is too long."), code="invalid", extra={"field": "nonce"})
    if offline and offline_result not in {"admit", "refuse"}:
        raise ApplicationError(_("Say what the scanner decided."), code="invalid")
    try:
        with transaction.atomic():
            return _scan(
                officer=officer,
                port=port,
                text=str(text or ""),
                client_nonce=client_nonce,
                plate_seen=plate_seen or "",
                moment=moment,
                offline=offline,
                offline_result=offline_result,
                offline_reason=offline_reason,
            )
    except IntegrityError:
        recorded = (
            GateEvent.objects.select_related(*(f"booking__{r}" for r in _BOOKING_RELATED))
            .filter(client_nonce=client_nonce)
            .first()
            if client_nonce
            else None
        )
        if recorded is None:
            raise
        return ScanResult(recorded, recorded.booking, replayed=True)


def _scan(*, officer, port, text, client_nonce, plate_seen, moment, offline, offline_result, offline_reason):
    pass_obj, reason = _find_pass(text, port)
    booking = pass_obj.booking if pass_obj else None
    if not reason:
        reason = _check(pass_obj, port, moment, plate_seen)
    event = GateEvent(
        port=port,
        booking=booking,
        pass_obj=pass_obj,
        officer=officer,
        client_nonce=client_nonce,
        offline=offline,
        scanned_at=moment,
    )
    if offline and offline_result == "refuse":
        # Turned away at the gate: nothing to claim, whatever the server thinks now.
        event.kind = GateEventKind.REFUSE
        event.reason = offline_reason if offline_reason in REASONS else reason or "offline"
    elif offline:
        # Admitted at the gate: check the booking in if it still can be, and keep the
        # server's objection (if any) on the event for the port to follow up.
        event.kind = GateEventKind.ADMIT
        if reason in ("", "too_early", "too_late", "declaration_not_accepted", "vehicle_mismatch"):
            lost = _claim(pass_obj, port, moment)
            reason = lost or reason
        event.reason = reason
        event.used_twice = reason == "already_used"
    else:
        if not reason:
            reason = _claim(pass_obj, port, moment)
        event.kind = GateEventKind.REFUSE if reason else GateEventKind.ADMIT
        event.reason = reason
    event.save(force_insert=True)
    return ScanResult(event, booking)


# --- after check-in: inspection result and exit


def _gate_booking(officer, booking: Booking) -> Booking:
    booking = Booking.objects.select_related("port", "declaration", "vehicle").get(pk=booking.pk)
    require_scanner(officer, booking.port)
    return booking


def _move(booking: Booking, sources: set, target: str) -> None:
    if not Booking.objects.filter(pk=booking.pk, status__in=sources).update(
        status=target, updated_at=timezone.now()
    ):
        booking.refresh_from_db(fields=["status"])
        raise ApplicationError(
            _("This booking is %(status)s: it cannot become %(target)s.")
            % {
                "status": BookingStatus(booking.status).label.lower(),
                "target": BookingStatus(target).label.lower(),
            },
            code="transition_not_allowed",
            extra={"status": booking.status, "target": target},
        )
    booking.status = target


@transaction.atomic
def inspect(*, officer, booking: Booking, released: bool, reason: str = "", comment: str = "") -> GateEvent:
    """The inspection result of a checked-in truck: released (its declaration too) or held
    with a reason. A held truck is released later the same way."""
    booking = _gate_booking(officer, booking)
    comment = " ".join((comment or "").split())
    if released:
        _move(booking, {BookingStatus.CHECKED_IN, BookingStatus.HELD}, BookingStatus.RELEASED)
        declaration_release(actor=officer, declaration=booking.declaration, comment=comment)
        kind, reason = GateEventKind.RELEASE, ""
    else:
        if reason not in HOLD_REASONS:
            raise ApplicationError(
                _("Say why the truck is held."), code="reason_required", extra={"field": "reason"}
            )
        if reason == "other" and not comment:
            raise ApplicationError(
                _("Describe the reason in the comment."), code="comment_required", extra={"field": "comment"}
            )
        _move(booking, {BookingStatus.CHECKED_IN}, BookingStatus.HELD)
        kind = GateEventKind.HOLD
    event = GateEvent.objects.create(
        port=booking.port,
        booking=booking,
        officer=officer,
        kind=kind,
        reason=reason,
        comment=comment,
        scanned_at=timezone.now(),
    )
    if released:
        _tell("booking.released", booking, key=str(event.pk), later=True)
    return event


@transaction.atomic
def exit(*, officer, booking: Booking, comment: str = "") -> GateEvent:
    """The truck leaves the port: after its release, or turned back while held."""
    booking = _gate_booking(officer, booking)
    _move(booking, {BookingStatus.RELEASED, BookingStatus.HELD}, BookingStatus.EXITED)
    return GateEvent.objects.create(
        port=booking.port,
        booking=booking,
        officer=officer,
        kind=GateEventKind.EXIT,
        comment=" ".join((comment or "").split()),
        scanned_at=timezone.now(),
    )


# --- reads for the gate's screens


def next_steps(booking: Booking | None, port: Port) -> list[str]:
    """What an officer may record next for this booking here: "release", "hold", "exit"."""
    if booking is None or booking.port_id != port.pk:
        return []
    return {
        BookingStatus.CHECKED_IN: ["release", "hold"],
        BookingStatus.HELD: ["release", "exit"],
        BookingStatus.RELEASED: ["exit"],
    }.get(booking.status, [])


def booking_summary(booking: Booking) -> dict:
    """What the officer checks against the truck: plate, driver, declaration, cargo, channel."""
    declaration = booking.declaration
    goods = list(declaration.goods.all())
    return {
        "id": booking.pk,
        "status": booking.status,
        "status_label": booking.get_status_display(),
        "plate": booking.vehicle.plate,
        "trailer_plate": booking.vehicle.trailer_plate,
        "driver": str(booking.driver.user) if booking.driver_id else "",
        "declaration": declaration.reference,
        "declaration_status": declaration.get_status_display(),
        "direction": declaration.get_direction_display(),
        "cargo": declaration.get_cargo_category_display(),
        "goods": "; ".join(f"{g.hs_code} {g.description}" for g in goods[:3])
        + ("; …" if len(goods) > 3 else ""),
        "gross_kg": sum((g.gross_kg for g in goods), 0),
        "channel": declaration.channel,
        "channel_label": declaration.get_channel_display() if declaration.channel else "",
        "slot_start": booking.slot.starts_at,
        "slot_end": booking.slot.ends_at,
        "lane": booking.slot.lane.name,
        "checked_in_at": booking.checked_in_at,
    }
