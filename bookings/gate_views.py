"""The gate scanner's pages. Without JavaScript they are plain forms and result pages (a
keyboard-wedge scanner types the token and Enter into the focused field); with it, the same
form is sent by fetch and the result fragment replaces the last one, and when the server
cannot be reached the page checks the pass itself (static/gate/gate.js)."""

import hashlib
import json
import uuid
from functools import wraps

from allauth.mfa.utils import is_mfa_enabled
from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bookings import gate, passes
from bookings.models import Booking
from bookings.services import policy_of, port_zone
from portal.errors import ApplicationError

SESSION_PORT = "gate_port"
# How long the page waits for the server before it decides on its own.
ANSWER_TIMEOUT_MS = 5000
VENDOR = {"jsqr": "gate/vendor/jsQR.js", "noble": "gate/vendor/noble-ed25519.js"}
CACHED = ["portal/site.css", "portal/site.js", "gate/gate.css", "gate/gate.js", *VENDOR.values()]


def gate_page(view):
    """Staff with two-factor authentication and the scan permission, like the back office."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not gate.scanner_ports(user):
            raise PermissionDenied(_("You cannot scan passes."))
        if not is_mfa_enabled(user):
            messages.warning(request, _("Set up two-factor authentication before using the gate scanner."))
            return redirect("mfa_activate_totp")
        return view(request, *args, **kwargs)

    return wrapped


def _current_port(request):
    ports = gate.scanner_ports(request.user)
    if len(ports) == 1:
        return ports[0]
    code = request.session.get(SESSION_PORT)
    return next((p for p in ports if p.code == code), None)


class ScanForm(forms.Form):
    text = forms.CharField(max_length=400, required=False, strip=True)
    code = forms.CharField(max_length=40, required=False, strip=True)
    plate = forms.CharField(max_length=20, required=False, strip=True)
    client_nonce = forms.CharField(max_length=64, required=False)


class HoldForm(forms.Form):
    reason = forms.ChoiceField(choices=list(gate.HOLD_REASONS.items()))
    comment = forms.CharField(max_length=500, required=False)


def _config(request, port) -> dict:
    """What the page's script needs, its words translated here."""
    policy = policy_of(port)
    reasons = {code: str(text) for code, text in gate.REASONS.items()}
    return {
        "user": request.user.pk,
        "port": port.code,
        "timeZone": port.time_zone,
        "keys": {port.code: passes.public_key_b64(port.code)},
        "earlyMinutes": policy.early_minutes,
        "lateMinutes": policy.late_minutes,
        "tokenLength": passes.TOKEN_LENGTH,
        "timeoutMs": ANSWER_TIMEOUT_MS,
        "syncUrl": reverse("api:gate_scans"),
        "serviceWorker": reverse("gate:service_worker"),
        "scope": reverse("gate:scanner"),
        "vendor": {name: static(path) for name, path in VENDOR.items()},
        "strings": {
            "admitOffline": _("ADMIT (offline)"),
            "refuseOffline": _("REFUSE (offline)"),
            "cannotCheck": _("NOT CHECKED"),
            "reasons": reasons,
            "offlineNote": _(
                "No connection to the server: checked on this device with the port's key. "
                "The scan is kept and sent when the connection is back."
            ),
            "codeOffline": _("A typed code cannot be checked without the server: scan the QR code."),
            "booking": _("Booking"),
            "slot": _("Slot"),
            "next": _("Next scan"),
            "checking": _("Checking…"),
            "offline": _("Offline: passes are checked on this device."),
            "queued": _("Scans waiting to be sent: %(count)s"),
            "signInToSend": _("Sign in again to send the scans made offline."),
            "forbidden": _("You cannot scan passes here."),
            "cameraStart": _("Camera"),
            "cameraStop": _("Stop camera"),
            "cameraDenied": _("The camera is not available."),
        },
    }


def _render_scanner(request, port, *, form=None, result=None, status=200):
    summary = steps = None
    if result is not None and result.booking is not None and result.booking.port_id == port.pk:
        summary = gate.booking_summary(result.booking)
        steps = gate.next_steps(result.booking, port)
    context = {
        "port": port,
        "ports": gate.scanner_ports(request.user),
        "form": form or ScanForm(),
        "nonce": uuid.uuid4().hex,
        "result": result,
        "summary": summary,
        "steps": steps or [],
        "hold_form": HoldForm(),
        "config": _config(request, port),
    }
    fragment = request.headers.get("X-Gate-Fragment") == "1"
    with timezone.override(port_zone(port)):
        response = render(
            request, "gate/_result.html" if fragment else "gate/scanner.html", context, status=status
        )
    if fragment and result is not None:
        response["X-Gate-Result"] = "admit" if result.admitted else "refuse"
    return response


@never_cache
@gate_page
def scanner(request):
    port = _current_port(request)
    if port is None:
        return redirect("gate:port")
    if request.method != "POST":
        return _render_scanner(request, port)
    form = ScanForm(request.POST)
    if not form.is_valid():
        return _render_scanner(request, port, form=form, status=400)
    data = form.cleaned_data
    if not (data["text"] or data["code"]):  # Enter in an empty field: nothing was scanned
        return _render_scanner(request, port)
    result = gate.scan(
        officer=request.user,
        port=port,
        text=data["text"] or data["code"],
        client_nonce=data["client_nonce"],
        plate_seen=data["plate"],
    )
    return _render_scanner(request, port, result=result)


@never_cache
@gate_page
def port_choose(request):
    ports = gate.scanner_ports(request.user)
    if request.method == "POST":
        code = request.POST.get("port", "")
        if code in {p.code for p in ports}:
            request.session[SESSION_PORT] = code
            return redirect("gate:scanner")
    return render(request, "gate/port.html", {"ports": ports, "current": _current_port(request)})


def _booking(request, pk) -> Booking:
    """A booking at one of the officer's ports; 404 for any other, as if it did not exist."""
    booking = Booking.objects.select_related("port", "vehicle").filter(pk=pk).first()
    if booking is None or booking.port_id not in {p.pk for p in gate.scanner_ports(request.user)}:
        raise Http404
    return booking


def _after(request, booking, done: str, action):
    try:
        action()
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done % {"plate": booking.vehicle.plate})
    return redirect("gate:scanner")


@require_POST
@gate_page
def booking_release(request, pk):
    booking = _booking(request, pk)
    comment = request.POST.get("comment", "")[:500]
    return _after(
        request,
        booking,
        _("Released: %(plate)s."),
        lambda: gate.inspect(officer=request.user, booking=booking, released=True, comment=comment),
    )


@require_POST
@gate_page
def booking_hold(request, pk):
    booking = _booking(request, pk)
    form = HoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the truck is held."))
        return redirect("gate:scanner")
    return _after(
        request,
        booking,
        _("Held: %(plate)s."),
        lambda: gate.inspect(officer=request.user, booking=booking, released=False, **form.cleaned_data),
    )


@require_POST
@gate_page
def booking_exit(request, pk):
    booking = _booking(request, pk)
    return _after(
        request, booking, _("Exited: %(plate)s."), lambda: gate.exit(officer=request.user, booking=booking)
    )


@require_GET
def service_worker(request):
    """Served from /gate/ so that its scope is the scanner; it lists what to keep offline."""
    files = [static(path) for path in CACHED]
    version = hashlib.sha256("\n".join(files).encode()).hexdigest()[:12]
    response = render(
        request,
        "gate/sw.js",
        {
            "version": version,
            "page_json": json.dumps(reverse("gate:scanner")),
            "files_json": json.dumps(files),
        },
        content_type="text/javascript",
    )
    response["Cache-Control"] = "no-cache"
    return response
