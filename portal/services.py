"""Every write of accounts and firms. Views, API views, admin and commands call these."""

from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from notifications.services import notify
from portal.audit import audit_log
from portal.errors import ApplicationError
from portal.models import (
    Driver,
    FirmDriver,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
    Vehicle,
)
from portal.permissions import firm_require
from portal.phones import parse_phone
from portal.plates import plate_is_plausible, plate_normalise
from portal.registration import registration_number_clean, scheme_name
from portal.selectors import invitation_contact_has_account

# --- users


def user_update_profile(*, user: User, display_name: str, language: str) -> User:
    if language not in dict(settings.LANGUAGES):
        raise ApplicationError(_("Unknown language."), code="invalid_language")
    user.display_name = display_name.strip()
    user.language = language
    user.save(update_fields=["display_name", "language"])
    return user


def user_set_language(*, user: User, language: str) -> None:
    if user.is_authenticated and language in dict(settings.LANGUAGES) and user.language != language:
        user.language = language
        user.save(update_fields=["language"])


def driver_profile_update(
    *, user: User, licence_number: str, id_document_number: str, nationality: str
) -> Driver:
    driver, _created = Driver.objects.get_or_create(user=user)
    driver.licence_number = licence_number.strip().upper()
    driver.id_document_number = id_document_number.strip().upper()
    driver.nationality = nationality
    driver.save()
    return driver


@transaction.atomic
def api_token_rotate(*, user: User) -> Token:
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


# --- organisations


def _registration_number(country: str, number: str) -> str:
    try:
        return registration_number_clean(country, number)
    except ValueError:
        scheme = scheme_name(country)
        if scheme:
            message = _("This is not a valid %(scheme)s.") % {"scheme": scheme}
        else:
            message = _("Enter the registration number with letters and digits only.")
        raise ApplicationError(
            message, code="invalid_registration_number", extra={"field": "registration_number"}
        ) from None


@transaction.atomic
def organisation_create(
    *, user: User, name: str, kind: str, country: str, registration_number: str
) -> Organisation:
    """Create a firm with ``user`` as its first admin. Officers verify it later."""
    number = _registration_number(country, registration_number)
    if Organisation.objects.filter(country=country, registration_number=number).exists():
        raise ApplicationError(
            _("A firm with this registration number is already registered."),
            code="duplicate_registration_number",
            extra={"field": "registration_number"},
        )
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(
                name=name.strip(), kind=kind, country=country, registration_number=number
            )
    except IntegrityError:  # registered by someone else a moment ago
        raise ApplicationError(
            _("A firm with this registration number is already registered."),
            code="duplicate_registration_number",
            extra={"field": "registration_number"},
        ) from None
    Membership.objects.create(organisation=organisation, user=user, role=Role.ADMIN)
    audit_log(actor=user, action="organisation.created", obj=organisation, organisation=organisation)
    return organisation


@transaction.atomic
def organisation_update(
    *, actor: User, organisation: Organisation, name: str, kind: str, country: str, registration_number: str
) -> Organisation:
    firm_require(actor, organisation, "edit")
    number = _registration_number(country, registration_number)
    number_changed = (str(organisation.country), organisation.registration_number) != (country, number)
    # What an officer checked: a change of any of it needs a new verification.
    identity_changed = number_changed or (organisation.name, organisation.kind) != (name.strip(), kind)
    if number_changed and (
        Organisation.objects.filter(country=country, registration_number=number)
        .exclude(pk=organisation.pk)
        .exists()
    ):
        raise ApplicationError(
            _("A firm with this registration number is already registered."),
            code="duplicate_registration_number",
            extra={"field": "registration_number"},
        )
    organisation.name, organisation.kind = name.strip(), kind
    organisation.country, organisation.registration_number = country, number
    if identity_changed and organisation.verified_at:
        organisation.verified_at, organisation.verified_by = None, None
    try:
        with transaction.atomic():
            organisation.save()
    except IntegrityError:  # the same number registered by another firm a moment ago
        raise ApplicationError(
            _("A firm with this registration number is already registered."),
            code="duplicate_registration_number",
            extra={"field": "registration_number"},
        ) from None
    audit_log(actor=actor, action="organisation.updated", obj=organisation, organisation=organisation)
    return organisation


@transaction.atomic
def organisation_verify(*, officer: User, organisation: Organisation) -> Organisation:
    if not officer.has_perm("portal.verify_organisation"):
        raise PermissionDenied(_("You cannot verify firms."))
    updated = Organisation.objects.filter(pk=organisation.pk, verified_at__isnull=True).update(
        verified_at=timezone.now(), verified_by=officer
    )
    organisation.refresh_from_db()
    if updated:
        event = audit_log(
            actor=officer, action="organisation.verified", obj=organisation, organisation=organisation
        )
        admins = User.objects.filter(memberships__organisation=organisation, memberships__role=Role.ADMIN)
        notify(
            "organisation.verified",
            organisation,
            recipients=admins,
            organisation=organisation,
            context={"organisation": organisation.name},
            key=str(event.pk),
        )
    return organisation


# --- members


def _admins_left_after(membership: Membership) -> int:
    return (
        Membership.objects.filter(organisation_id=membership.organisation_id, role=Role.ADMIN)
        .exclude(pk=membership.pk)
        .count()
    )


@transaction.atomic
def membership_change_role(*, actor: User, membership: Membership, role: str) -> Membership:
    firm_require(actor, membership.organisation, "manage_members")
    if role not in Role.values:
        raise ApplicationError(_("Unknown role."), code="invalid_role", extra={"field": "role"})
    # Lock the firm: two admins demoting each other at once must not leave it with none.
    Organisation.objects.select_for_update().get(pk=membership.organisation_id)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == role:
        return membership
    if membership.role == Role.ADMIN and _admins_left_after(membership) == 0:
        raise ApplicationError(_("A firm needs at least one admin."), code="last_admin")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    event = audit_log(
        actor=actor,
        action="membership.role_changed",
        obj=membership,
        organisation=membership.organisation,
        user=membership.user_id,
        old=old,
        new=role,
    )
    notify(
        "membership.role_changed",
        membership,
        recipients=[membership.user_id],
        organisation=membership.organisation,
        context={"organisation": membership.organisation.name, "role": membership.get_role_display()},
        key=str(event.pk),
    )
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> None:
    firm_require(actor, membership.organisation, "manage_members")
    Organisation.objects.select_for_update().get(pk=membership.organisation_id)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.ADMIN and _admins_left_after(membership) == 0:
        raise ApplicationError(_("A firm needs at least one admin."), code="last_admin")
    event = audit_log(
        actor=actor,
        action="membership.removed",
        obj=membership,
        organisation=membership.organisation,
        user=membership.user_id,
        role=membership.role,
    )
    if membership.user_id != actor.pk:
        notify(
            "membership.removed",
            membership.organisation,
            recipients=[membership.user_id],
            organisation=membership.organisation,
            context={"organisation": membership.organisation.name},
            key=str(event.pk),
        )
    membership.delete()


@transaction.atomic
def driver_remove(*, actor: User, organisation: Organisation, driver: Driver) -> None:
    firm_require(actor, organisation, "manage_drivers")
    deleted, _rows = FirmDriver.objects.filter(organisation=organisation, driver=driver).delete()
    if not deleted:
        raise ApplicationError(_("This driver does not drive for the firm."), code="not_a_driver")
    audit_log(actor=actor, action="driver.removed", obj=driver, organisation=organisation)


# --- invitations


def _invitation_message_language(invitation: Invitation) -> str:
    existing = User.objects.filter(phone=invitation.phone).first() if invitation.phone else None
    if existing is None and invitation.email:
        existing = User.objects.filter(email=invitation.email).first()
    return existing.language if existing else (translation.get_language() or settings.LANGUAGE_CODE)


def _invitation_send(invitation: Invitation, client_ip: str | None) -> None:
    notify(
        "invitation.sent",
        invitation,
        client_ip=client_ip,
        address=invitation.phone.as_e164 if invitation.phone else invitation.email,
        language=_invitation_message_language(invitation),
        organisation=invitation.organisation,
        context={
            "organisation": invitation.organisation.name,
            "role": invitation.get_role_display(),
            "url": settings.SITE_URL + reverse("invitation_accept", args=[invitation.token]),
            "expires_at": invitation.expires_at,
        },
    )


@transaction.atomic
def invitation_create(
    *,
    actor: User,
    organisation: Organisation,
    role: str,
    phone: str = "",
    email: str = "",
    region: str | None = None,
    client_ip: str | None = None,
) -> Invitation:
    firm_require(actor, organisation, "manage_members" if role != Invitation.As.DRIVER else "manage_drivers")
    # Lock the firm: the daily cap below must hold against concurrent invitations.
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if not organisation.is_verified and (
        Invitation.objects.filter(
            organisation=organisation, created_at__gte=timezone.now() - timedelta(days=1)
        ).count()
        >= settings.UNVERIFIED_FIRM_INVITATIONS_PER_DAY
    ):
        raise ApplicationError(
            _("A firm not yet verified by the port can send %(count)d invitations a day. Try again tomorrow.")
            % {"count": settings.UNVERIFIED_FIRM_INVITATIONS_PER_DAY},
            code="invitation_limit",
        )
    if role not in Invitation.As.values:
        raise ApplicationError(_("Unknown role."), code="invalid_role", extra={"field": "role"})
    phone, email = (phone or "").strip(), (email or "").strip().lower()
    if bool(phone) == bool(email):
        raise ApplicationError(_("Give either a phone number or an email address."), code="contact_required")
    number = None
    if phone:
        number = parse_phone(phone, region)
        if number is None:
            raise ApplicationError(
                _("Enter a valid phone number, e.g. 8 701 123 45 67 or +86 138 0013 8000."),
                code="invalid_phone",
                extra={"field": "phone"},
            )
    existing = (
        User.objects.filter(phone=number).first() if number else User.objects.filter(email=email).first()
    )
    if (
        existing
        and role != Invitation.As.DRIVER
        and Membership.objects.filter(organisation=organisation, user=existing).exists()
    ):
        raise ApplicationError(_("This person is already a member of the firm."), code="already_member")
    if (
        existing
        and role == Invitation.As.DRIVER
        and FirmDriver.objects.filter(organisation=organisation, driver__user=existing).exists()
    ):
        raise ApplicationError(_("This person already drives for the firm."), code="already_driver")
    # A new invitation to the same person replaces the open one.
    now = timezone.now()
    Invitation.objects.filter(
        organisation=organisation,
        phone=number,
        email=email or None,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).update(revoked_at=now)
    invitation = Invitation.objects.create(
        organisation=organisation,
        role=role,
        phone=number,
        email=email or None,
        invited_by=actor,
        expires_at=Invitation.default_expiry(),
    )
    audit_log(actor=actor, action="invitation.created", obj=invitation, organisation=organisation, role=role)
    _invitation_send(invitation, client_ip)
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> None:
    firm_require(actor, invitation.organisation, "manage_members")
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if not updated:
        raise ApplicationError(_("This invitation is no longer open."), code="invitation_closed")
    audit_log(actor=actor, action="invitation.revoked", obj=invitation, organisation=invitation.organisation)


def invitation_problem(invitation: Invitation | None) -> str | None:
    """Why an invitation cannot be accepted, in words for its recipient; None if it can."""
    if invitation is None:
        return _("This invitation link is not valid.")
    if invitation.accepted_at:
        return _("This invitation has already been used.")
    if invitation.revoked_at:
        return _("This invitation was withdrawn.")
    if invitation.expires_at <= timezone.now():
        return _("This invitation has expired. Ask the firm to send a new one.")
    return None


def _invitation_claim(invitation: Invitation, user: User) -> bool:
    """Of any number of concurrent accepts, exactly one updates the row and gets True."""
    now = timezone.now()
    return bool(
        Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(accepted_at=now, accepted_by=user)
    )


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Invitation:
    invitation = Invitation.objects.select_related("organisation").filter(token=token).first()
    problem = invitation_problem(invitation)
    if problem:
        raise ApplicationError(problem, code="invitation_closed")
    if not _invitation_claim(invitation, user):
        raise ApplicationError(_("This invitation has already been used."), code="invitation_closed")
    organisation = invitation.organisation
    try:
        with transaction.atomic():
            if invitation.is_driver:
                driver, _created = Driver.objects.get_or_create(user=user)
                FirmDriver.objects.create(organisation=organisation, driver=driver)
            else:
                Membership.objects.create(organisation=organisation, user=user, role=invitation.role)
    except IntegrityError:
        raise ApplicationError(_("You are already part of this firm."), code="already_member") from None
    audit_log(actor=user, action="invitation.accepted", obj=invitation, organisation=organisation)
    if invitation.is_driver:
        admins = User.objects.filter(memberships__organisation=organisation, memberships__role=Role.ADMIN)
        notify(
            "driver.joined",
            invitation,
            recipients=admins,
            organisation=organisation,
            context={"organisation": organisation.name, "driver": str(user)},
        )
    return invitation


@transaction.atomic
def invitation_accept_new_user(*, token: str, display_name: str, language: str) -> tuple[User, Invitation]:
    """Accept for someone without an account: the link proves the phone or email it went to."""
    from allauth.account.models import EmailAddress

    invitation = Invitation.objects.filter(token=token).first()
    problem = invitation_problem(invitation)
    if problem:
        raise ApplicationError(problem, code="invitation_closed")
    if invitation_contact_has_account(invitation):
        raise ApplicationError(
            _("An account with this phone number or email already exists. Sign in to accept."),
            code="account_exists",
        )
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=invitation.email,
                phone=invitation.phone,
                phone_verified=bool(invitation.phone),
                display_name=display_name.strip(),
                language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
            )
    except IntegrityError:  # an account for this contact was made a moment ago
        raise ApplicationError(
            _("An account with this phone number or email already exists. Sign in to accept."),
            code="account_exists",
        ) from None
    user.set_unusable_password()
    user.save(update_fields=["password"])
    if invitation.email:
        EmailAddress.objects.create(user=user, email=invitation.email, primary=True, verified=True)
    return user, invitation_accept(token=token, user=user)


# --- vehicles


@contextmanager
def _unique_plate():
    """The database's word on duplicate plates, for two saves racing past the check."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise ApplicationError(
            _("This plate is already registered to the firm."),
            code="duplicate_plate",
            extra={"field": "plate"},
        ) from None


def _vehicle_fields(
    organisation: Organisation, plate: str, trailer_plate: str, exclude_pk=None
) -> tuple[str, str]:
    if not plate_is_plausible(plate):
        raise ApplicationError(
            _("Enter the plate as it is written, e.g. 01 KZ 123 ABA."),
            code="invalid_plate",
            extra={"field": "plate"},
        )
    if trailer_plate and not plate_is_plausible(trailer_plate):
        raise ApplicationError(
            _("Enter the plate as it is written, e.g. 01 KZ 123 ABA."),
            code="invalid_plate",
            extra={"field": "trailer_plate"},
        )
    normalised = plate_normalise(plate)
    if (
        Vehicle.objects.filter(organisation=organisation, plate_normalised=normalised)
        .exclude(pk=exclude_pk)
        .exists()
    ):
        raise ApplicationError(
            _("This plate is already registered to the firm."),
            code="duplicate_plate",
            extra={"field": "plate"},
        )
    return normalised, " ".join(trailer_plate.upper().split())


@transaction.atomic
def vehicle_create(
    *, actor: User, organisation: Organisation, plate: str, country: str, kind: str, trailer_plate: str = ""
) -> Vehicle:
    firm_require(actor, organisation, "manage_vehicles")
    normalised, trailer = _vehicle_fields(organisation, plate, trailer_plate)
    with _unique_plate():
        vehicle = Vehicle.objects.create(
            organisation=organisation,
            plate=" ".join(plate.upper().split()),
            plate_normalised=normalised,
            country=country,
            kind=kind,
            trailer_plate=trailer,
        )
    audit_log(
        actor=actor, action="vehicle.created", obj=vehicle, organisation=organisation, plate=vehicle.plate
    )
    return vehicle


@transaction.atomic
def vehicle_update(
    *, actor: User, vehicle: Vehicle, plate: str, country: str, kind: str, trailer_plate: str = ""
) -> Vehicle:
    firm_require(actor, vehicle.organisation, "manage_vehicles")
    normalised, trailer = _vehicle_fields(vehicle.organisation, plate, trailer_plate, exclude_pk=vehicle.pk)
    vehicle.plate, vehicle.plate_normalised = " ".join(plate.upper().split()), normalised
    vehicle.country, vehicle.kind, vehicle.trailer_plate = country, kind, trailer
    with _unique_plate():
        vehicle.save()
    audit_log(actor=actor, action="vehicle.updated", obj=vehicle, organisation=vehicle.organisation)
    return vehicle


@transaction.atomic
def vehicle_delete(*, actor: User, vehicle: Vehicle) -> None:
    firm_require(actor, vehicle.organisation, "manage_vehicles")
    audit_log(
        actor=actor,
        action="vehicle.deleted",
        obj=vehicle,
        organisation=vehicle.organisation,
        plate=vehicle.plate,
    )
    vehicle.delete()
