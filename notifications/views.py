from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from notifications import selectors, services
from notifications.events import EVENTS
from notifications.forms import PreferencesForm


@login_required
def inbox(request):
    if request.method == "POST":
        services.inapp_mark_read(user=request.user)
        return redirect("notifications:inbox")
    return render(request, "notifications/inbox.html", {"notifications": selectors.inbox(request.user)})


@login_required
def preferences(request):
    form = PreferencesForm(request.POST or None, current=selectors.preferences_for(request.user))
    if request.method == "POST" and form.is_valid():
        services.preferences_save(user=request.user, choices=form.choices())
        messages.success(request, _("Notification settings saved."))
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


@csrf_exempt  # the signed token is the credential; mail clients post one-click (RFC 8058)
def unsubscribe(request, token):
    """GET shows a button (mail scanners follow links); POST unsubscribes, also one-click
    from the mail client (RFC 8058)."""
    if request.method != "POST":
        return render(request, "notifications/unsubscribe.html", {"token": token})
    result = services.unsubscribe(token=token)
    if result is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    _user, event = result
    return render(request, "notifications/unsubscribe.html", {"done": True, "event": EVENTS[event]})


@csrf_exempt
@require_POST
def delivery_report(request):
    status, outcome = services.delivery_report_record(
        body=request.body,
        signature=request.headers.get("X-Landport-Signature", ""),
        remote_addr=request.META.get("REMOTE_ADDR"),
    )
    return JsonResponse({"outcome": outcome}, status=status) if status != 200 else HttpResponse(outcome)
