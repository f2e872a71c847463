from allauth.account.views import LogoutView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.i18n import set_language
from kombu import Connection
from rest_framework.authtoken.models import Token

from portal import selectors, services
from portal.adapters import client_ip, request_region
from portal.errors import ApplicationError
from portal.forms import (
    DriverProfileForm,
    InvitationForm,
    InvitationSignupForm,
    MemberRoleForm,
    OrganisationForm,
    ProfileForm,
    VehicleForm,
    form_add_error,
)
from portal.models import Driver, Invitation, Membership, Vehicle
from portal.permissions import firm_access


@require_GET
@never_cache
def healthz(request):
    checks = {"database": "ok", "broker": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not healthy", whatever its type
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


def healthz_db(request):
    """The database alone, one query: a cheap probe (and the benchmark's ceiling)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready", whatever its type
        return JsonResponse({"status": "error", "database": exc.__class__.__name__}, status=503)
    return JsonResponse({"status": "ok"})


def home(request):
    if not request.user.is_authenticated:
        return render(request, "portal/landing.html")
    user = request.user
    context = {
        "memberships": selectors.home_memberships(user),
        "driver_firms": selectors.organisations_for_driver(user),
        "officer_ports": user.ports.all() if user.is_staff else [],
    }
    return render(request, "portal/home.html", context)


@require_POST
def language_set(request):
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, language=request.POST.get("language", ""))
    return set_language(request)


@login_required
def profile(request):
    user = request.user
    form = ProfileForm(
        request.POST or None, initial={"display_name": user.display_name, "language": user.language}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update_profile(user=user, **form.cleaned_data)
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            translation.activate(user.language)
            messages.success(request, _("Profile saved."))
            response = redirect("profile")
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax")
            return response
    driver = Driver.objects.filter(user=user).first()
    context = {
        "form": form,
        "driver": driver,
        "token": Token.objects.filter(user=user).first(),
    }
    return render(request, "portal/profile.html", context)


@login_required
def driver_profile(request):
    driver = Driver.objects.filter(user=request.user).first()
    initial = (
        {
            "licence_number": driver.licence_number,
            "id_document_number": driver.id_document_number,
            "nationality": driver.nationality,
        }
        if driver
        else {}
    )
    form = DriverProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.driver_profile_update(user=request.user, **form.cleaned_data)
        messages.success(request, _("Driver details saved."))
        return redirect("profile")
    return render(request, "portal/driver_profile.html", {"form": form})


@login_required
@require_POST
def api_token_rotate(request):
    token = services.api_token_rotate(user=request.user)
    messages.success(
        request, _("New API token: %(key)s. Copy it now; it is shown only once.") % {"key": token.key}
    )
    return redirect("profile")


# --- firms


@login_required
def firm_create(request):
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.organisation_create(user=request.user, **form.cleaned_data)
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            messages.success(request, _("Firm created. An officer will verify it."))
            return redirect("firm_detail", organisation.pk)
    return render(request, "portal/firm_create.html", {"form": form})


@login_required
def firm_detail(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("view")
    organisation = access.organisation
    form = None
    if access.can("edit"):
        form = OrganisationForm(
            request.POST or None,
            initial={
                "name": organisation.name,
                "kind": organisation.kind,
                "country": organisation.country,
                "registration_number": organisation.registration_number,
            },
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.organisation_update(
                    actor=request.user, organisation=organisation, **form.cleaned_data
                )
            except ApplicationError as error:
                form_add_error(form, error)
            else:
                messages.success(request, _("Firm saved."))
                return redirect("firm_detail", organisation.pk)
    elif request.method == "POST":
        access.require("edit")
    return render(request, "portal/firm_detail.html", {"access": access, "firm": organisation, "form": form})


def _invite(request, access, roles, redirect_to):
    form = InvitationForm(request.POST or None, roles=roles, region=request_region(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_create(
                client_ip=client_ip(request),
                actor=request.user,
                organisation=access.organisation,
                role=form.cleaned_data["role"],
                phone=form.cleaned_data["phone"],
                email=form.cleaned_data["email"],
            )
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            messages.success(request, _("Invitation sent."))
            return form, redirect(redirect_to, access.organisation.pk)
    return form, None


@login_required
def firm_members(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("view_members")
    form, done = None, None
    if access.can("manage_members"):
        form, done = _invite(
            request, access, [r for r in Invitation.As.values if r != "driver"], "firm_members"
        )
        if done:
            return done
    elif request.method == "POST":
        access.require("manage_members")
    context = {
        "access": access,
        "firm": access.organisation,
        "memberships": selectors.memberships_of(access.organisation),
        "invitations": selectors.open_invitations_of(access.organisation)
        if access.can("manage_members")
        else [],
        "form": form,
        "role_form": MemberRoleForm(),
    }
    return render(request, "portal/members.html", context)


def _membership(request, firm_id, membership_id):
    access = firm_access(request.user, firm_id)
    access.require("manage_members")
    return get_object_or_404(Membership, pk=membership_id, organisation=access.organisation)


@login_required
@require_POST
def member_role(request, firm_id, membership_id):
    membership = _membership(request, firm_id, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
    else:
        try:
            services.membership_change_role(
                actor=request.user, membership=membership, role=form.cleaned_data["role"]
            )
            messages.success(request, _("Role changed."))
        except ApplicationError as error:
            messages.error(request, error.message)
    return redirect("firm_members", firm_id)


@login_required
@require_POST
def member_remove(request, firm_id, membership_id):
    membership = _membership(request, firm_id, membership_id)
    try:
        services.membership_remove(actor=request.user, membership=membership)
        messages.success(request, _("Member removed."))
    except ApplicationError as error:
        messages.error(request, error.message)
    if membership.user_id == request.user.pk:
        return redirect("home")
    return redirect("firm_members", firm_id)


@login_required
@require_POST
def invitation_revoke(request, firm_id, invitation_id):
    access = firm_access(request.user, firm_id)
    access.require("manage_members")
    invitation = get_object_or_404(Invitation, pk=invitation_id, organisation=access.organisation)
    try:
        services.invitation_revoke(actor=request.user, invitation=invitation)
        messages.success(request, _("Invitation withdrawn."))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("firm_drivers" if invitation.is_driver else "firm_members", firm_id)


@login_required
def firm_drivers(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("view_drivers")
    form = None
    if access.can("manage_drivers"):
        form, done = _invite(request, access, ["driver"], "firm_drivers")
        if done:
            return done
    elif request.method == "POST":
        access.require("manage_drivers")
    invitations = (
        selectors.open_invitations_of(access.organisation).filter(role=Invitation.As.DRIVER)
        if access.can("manage_drivers")
        else []
    )
    context = {
        "access": access,
        "firm": access.organisation,
        "form": form,
        "drivers": selectors.drivers_of(access.organisation),
        "invitations": invitations,
    }
    return render(request, "portal/drivers.html", context)


@login_required
@require_POST
def driver_remove(request, firm_id, driver_id):
    access = firm_access(request.user, firm_id)
    access.require("manage_drivers")
    driver = get_object_or_404(Driver, pk=driver_id, firm_links__organisation=access.organisation)
    try:
        services.driver_remove(actor=request.user, organisation=access.organisation, driver=driver)
        messages.success(request, _("Driver removed from the firm."))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("firm_drivers", firm_id)


@login_required
def firm_vehicles(request, firm_id):
    access = firm_access(request.user, firm_id)
    access.require("view_vehicles")
    form = None
    if access.can("manage_vehicles"):
        form = VehicleForm(request.POST or None, initial={"country": access.organisation.country})
        if request.method == "POST" and form.is_valid():
            try:
                services.vehicle_create(
                    actor=request.user, organisation=access.organisation, **form.cleaned_data
                )
            except ApplicationError as error:
                form_add_error(form, error)
            else:
                messages.success(request, _("Vehicle added."))
                return redirect("firm_vehicles", firm_id)
    elif request.method == "POST":
        access.require("manage_vehicles")
    context = {
        "access": access,
        "firm": access.organisation,
        "form": form,
        "vehicles": selectors.vehicles_of(access.organisation),
    }
    return render(request, "portal/vehicles.html", context)


@login_required
def vehicle_edit(request, firm_id, vehicle_id):
    access = firm_access(request.user, firm_id)
    vehicle = get_object_or_404(Vehicle, pk=vehicle_id, organisation=access.organisation)
    access.require("manage_vehicles")
    form = VehicleForm(
        request.POST or None,
        initial={
            "plate": vehicle.plate,
            "country": vehicle.country,
            "kind": vehicle.kind,
            "trailer_plate": vehicle.trailer_plate,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.vehicle_update(actor=request.user, vehicle=vehicle, **form.cleaned_data)
        except ApplicationError as error:
            form_add_error(form, error)
        else:
            messages.success(request, _("Vehicle saved."))
            return redirect("firm_vehicles", firm_id)
    return render(
        request,
        "portal/vehicle_edit.html",
        {"access": access, "firm": access.organisation, "vehicle": vehicle, "form": form},
    )


@login_required
@require_POST
def vehicle_delete(request, firm_id, vehicle_id):
    access = firm_access(request.user, firm_id)
    vehicle = get_object_or_404(Vehicle, pk=vehicle_id, organisation=access.organisation)
    services.vehicle_delete(actor=request.user, vehicle=vehicle)
    messages.success(request, _("Vehicle removed."))
    return redirect("firm_vehicles", firm_id)


# --- invitations


def invitation_accept(request, token):
    invitation = Invitation.objects.select_related("organisation").filter(token=token).first()
    problem = services.invitation_problem(invitation)
    if problem:
        return render(
            request, "portal/invitation.html", {"problem": problem}, status=410 if invitation else 404
        )
    form = None
    account_exists = False
    if not request.user.is_authenticated:
        account_exists = selectors.invitation_contact_has_account(invitation)
        form = None if account_exists else InvitationSignupForm(request.POST or None)
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                services.invitation_accept(token=token, user=request.user)
            elif form is not None and form.is_valid():
                user, _invitation = services.invitation_accept_new_user(
                    token=token,
                    display_name=form.cleaned_data["display_name"],
                    language=translation.get_language(),
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                return render(
                    request,
                    "portal/invitation.html",
                    {"invitation": invitation, "form": form, "account_exists": account_exists},
                )
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("invitation_accept", token)
        messages.success(request, _("Welcome to %(firm)s.") % {"firm": invitation.organisation.name})
        if invitation.is_driver:
            return redirect("home")
        return redirect("firm_detail", invitation.organisation_id)
    return render(
        request,
        "portal/invitation.html",
        {"invitation": invitation, "form": form, "account_exists": account_exists},
    )


# Read by portal/static/portal/site.js on the next page, which then deletes the passes the
# phone saved for offline use (templates/bookings/sw.js): the next person to use the phone
# sees nobody's pass. A cookie rather than Clear-Site-Data, which would also wipe the gate's
# scans still waiting to be sent.
SIGNED_OUT_COOKIE = "signed-out"


class SignOutView(LogoutView):
    def post(self, *args, **kwargs):
        response = super().post(*args, **kwargs)
        response.set_cookie(
            SIGNED_OUT_COOKIE, "1", max_age=30 * 24 * 3600, samesite="Lax", secure=self.request.is_secure()
        )
        return response
