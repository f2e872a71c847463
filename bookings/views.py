"""Booking pages for drivers and dispatchers, phone first: the free places of a day, book,
move, cancel, my bookings, the pass, and the service worker that keeps an opened pass
readable with no network."""

import hashlib
import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from bookings import passes, qr, selectors, services
from bookings.models import BookingStatus, Slot
from declarations import selectors as declaration_selectors
from portal.errors import ApplicationError
from portal.models import Membership
from portal.permissions import firm_access

# What the pass page needs besides itself; the service worker keeps these for offline use.
PASS_ASSETS = [
    "portal/site.css",
    "bookings/bookings.css",
    "portal/site.js",
    "bookings/bookings.js",
    "portal/icon.svg",
]


def _posted_slot(request) -> Slot | None:
    slot_id = request.POST.get("slot", "")
    if not slot_id.isdigit():
        return None
    return Slot.objects.filter(pk=int(slot_id)).first()


def _grid_context(request, port, lanes, *, day, error=None, current=None) -> dict:
    offers = []
    if error is not None and error.code == "slot_full":
        ids = [offer["slot"] for offer in error.extra.get("next_free", [])]
        found = selectors.slots_by_id(ids)
        offers = [found[i] for i in ids if i in found]
    return {
        "port": port,
        "day": day,
        "days": selectors.bookable_days(port),
        "lanes": selectors.availability(port, lanes, day, current=current),
        "error": error,
        "offers": offers,
        "policy": services.policy_of(port),
        # The browser may reload a page it got by GET once it has told us its time zone.
        "tz_reload": request.method == "GET",
    }


def _chosen_day(request, port, slot=None):
    """The day asked for, else the day of the slot in question, else today (port time)."""
    day = selectors.parse_day(port, request.GET.get("day"))
    if day is None and slot is not None and slot.port_id == port.pk:
        day = selectors.window_day(port, timezone.localtime(slot.starts_at, services.port_zone(port)).date())
    return day or selectors.port_today(port)


def _no_slot_error() -> ApplicationError:
    return ApplicationError(_("Choose a slot."), "no_slot")


@login_required
def booking_new(request, pk):
    """The day's free places in the declaration's lanes; a tap on one books it."""
    declaration = declaration_selectors.declaration_for(request.user, pk)
    services.require_may_book(request.user, declaration)
    port = declaration.port
    error = slot = None
    if request.method == "POST":
        slot = _posted_slot(request)
        try:
            if slot is None:
                raise _no_slot_error()
            booking = services.booking_create(actor=request.user, declaration=declaration, slot=slot)
        except ApplicationError as exc:
            error = exc
        else:
            messages.success(request, _("Booked. Open the pass before you leave: it then works offline."))
            return redirect("bookings:detail", booking.pk)
    existing = selectors.holding_booking_of_vehicle(declaration.vehicle_id, declaration.port_id)
    bookable = declaration.status in services.BOOKABLE_DECLARATIONS and declaration.vehicle_id is not None
    context = {"declaration": declaration, "existing": existing, "bookable": bookable, "error": error}
    if bookable and existing is None:
        day = _chosen_day(request, port, slot)
        context.update(_grid_context(request, port, services.lanes_for(declaration), day=day, error=error))
    return render(request, "bookings/book.html", context)


def _changeable(booking) -> bool:
    """Active and before the cut-off: what move and cancel require."""
    cutoff = timedelta(minutes=services.policy_of(booking.port).cutoff_minutes)
    return booking.status == BookingStatus.ACTIVE and booking.slot.starts_at - cutoff >= timezone.now()


@login_required
def booking_detail(request, pk):
    booking = selectors.booking_for(request.user, pk)
    live = services.live_pass(booking)
    context = {
        "booking": booking,
        "live": live,
        "may_change": services.may_book(request.user, booking.declaration),
        "changeable": _changeable(booking),
        "policy": services.policy_of(booking.port),
        "tz_reload": True,
    }
    return render(request, "bookings/detail.html", context)


@login_required
def booking_move(request, pk):
    booking = selectors.booking_for(request.user, pk)
    services.require_may_book(request.user, booking.declaration)
    error = slot = None
    if request.method == "POST":
        slot = _posted_slot(request)
        try:
            if slot is None:
                raise _no_slot_error()
            booking = services.booking_move(actor=request.user, booking=booking, slot=slot)
        except ApplicationError as exc:
            error = exc
        else:
            live = services.live_pass(booking)
            messages.success(
                request,
                _("Moved. The old pass no longer works; the new code is %(code)s.")
                % {"code": passes.format_short_code(live.short_code)},
            )
            return redirect("bookings:detail", booking.pk)
    context = {"booking": booking, "changeable": _changeable(booking), "error": error}
    if context["changeable"]:
        day = _chosen_day(request, booking.port, slot or booking.slot)
        context.update(
            _grid_context(
                request,
                booking.port,
                services.lanes_for(booking.declaration),
                day=day,
                error=error,
                current=booking.slot,
            )
        )
    return render(request, "bookings/move.html", context)


@login_required
def booking_cancel(request, pk):
    """GET asks for confirmation; POST cancels."""
    booking = selectors.booking_for(request.user, pk)
    services.require_may_book(request.user, booking.declaration)
    if request.method == "POST":
        try:
            services.booking_cancel(actor=request.user, booking=booking)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Booking cancelled. Its pass no longer works."))
        return redirect("bookings:detail", booking.pk)
    return render(
        request,
        "bookings/cancel.html",
        {"booking": booking, "changeable": _changeable(booking), "tz_reload": True},
    )


@login_required
def booking_pass(request, pk):
    """The pass as the driver shows it at the gate: the QR large, the short code, the plate,
    the slot, the lane and the status. Once opened it is kept by the service worker."""
    booking = selectors.booking_for(request.user, pk)
    live = services.live_pass(booking) if booking.is_holding else None
    context = {
        "booking": booking,
        "live": live,
        # Our own SVG from our own token: nothing in it comes from a user.
        "qr": mark_safe(qr.svg(live.token)) if live else "",  # noqa: S308
        "tz_reload": True,
    }
    response = render(request, "bookings/pass.html", context)
    # Always asked from the server when online; the service worker's copy is for offline.
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
def my_bookings(request):
    """A driver's own bookings, and the way to each firm's bookings for its members."""
    bookings = list(selectors.bookings_of_driver(request.user)[:100])
    firms = Membership.objects.filter(user=request.user).select_related("organisation")
    context = {
        "upcoming": [b for b in bookings if b.is_holding],
        "past": [b for b in bookings if not b.is_holding],
        "firms": [m.organisation for m in firms],
        "tz_reload": True,
    }
    return render(request, "bookings/mine.html", context)


@login_required
def firm_bookings(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("view")
    status = request.GET.get("status", "")
    if status not in BookingStatus.values:
        status = ""
    context = {
        "firm": access.organisation,
        "bookings": selectors.bookings_of(access.organisation, status=status)[:200],
        "status": status,
        "statuses": BookingStatus.choices,
        "may_book": access.role in services.BOOKING_ROLES,
        "tz_reload": True,
    }
    return render(request, "bookings/firm.html", context)


@require_GET
@cache_control(no_cache=True)
def service_worker(request):
    """The service worker, from /bookings/ so that its scope covers the pass pages."""
    assets = [static(path) for path in PASS_ASSETS]
    # A new cache whenever an asset's (hashed, in production) name changes.
    version = hashlib.sha256("\n".join(assets).encode()).hexdigest()[:12]
    body = render_to_string("bookings/sw.js", {"assets_json": json.dumps(assets), "version": version})
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/bookings/"
    return response
