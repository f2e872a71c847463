from django.db.models import Prefetch, QuerySet

from portal.models import Driver, Invitation, Membership, Organisation, User, Vehicle


def organisations_for_member(user) -> QuerySet[Organisation]:
    return Organisation.objects.filter(memberships__user=user).order_by("name")


def organisations_for_driver(user) -> QuerySet[Organisation]:
    return Organisation.objects.filter(firm_drivers__driver__user=user).order_by("name")


def memberships_of(organisation) -> QuerySet[Membership]:
    return organisation.memberships.select_related("user").order_by("role", "user__display_name")


def drivers_of(organisation) -> QuerySet[Driver]:
    return (
        Driver.objects.filter(firm_links__organisation=organisation)
        .select_related("user")
        .order_by("user__display_name")
    )


def vehicles_of(organisation) -> QuerySet[Vehicle]:
    return organisation.vehicles.order_by("plate_normalised")


def open_invitations_of(organisation) -> QuerySet[Invitation]:
    from django.utils import timezone

    return organisation.invitations.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def home_memberships(user) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organisation")
        .prefetch_related(
            Prefetch("organisation__vehicles", queryset=Vehicle.objects.order_by("plate_normalised"))
        )
    )


def invitation_contact_has_account(invitation: Invitation) -> bool:
    """Whether the phone or email an invitation went to already belongs to an account."""
    if invitation.phone:
        return User.objects.filter(phone=invitation.phone).exists()
    return User.objects.filter(email=invitation.email).exists()
