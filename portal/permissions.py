"""Who may do what in a firm. One table, used by pages, the API and the services."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from portal.models import Membership, Organisation, Role

ALL_MEMBERS = frozenset(Role)

# action -> the member roles allowed to do it
FIRM_ACTIONS: dict[str, frozenset[Role]] = {
    "view": ALL_MEMBERS,
    "edit": frozenset({Role.ADMIN}),
    "view_members": ALL_MEMBERS,
    "manage_members": frozenset({Role.ADMIN}),
    "view_drivers": ALL_MEMBERS,
    "manage_drivers": frozenset({Role.ADMIN}),
    "view_vehicles": ALL_MEMBERS,
    "manage_vehicles": frozenset({Role.ADMIN, Role.DISPATCHER}),
    "view_declarations": ALL_MEMBERS,
    "declare": frozenset({Role.ADMIN, Role.DECLARANT}),
}


@dataclass(frozen=True)
class FirmAccess:
    organisation: Organisation
    role: Role | None  # None: a driver of the firm, not a member

    def can(self, action: str) -> bool:
        return self.role is not None and self.role in FIRM_ACTIONS[action]

    def require(self, action: str) -> None:
        if not self.can(action):
            raise PermissionDenied(_("Your role in this firm does not allow this."))


def firm_access(user, organisation_id) -> FirmAccess:
    """The user's standing in a firm; 404 for anyone who is neither member nor driver.

    Outsiders get the same answer whether the firm exists or not.
    """
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("organisation")
        .filter(user=user, organisation_id=organisation_id)
        .first()
    )
    if membership:
        return FirmAccess(organisation=membership.organisation, role=Role(membership.role))
    organisation = Organisation.objects.filter(id=organisation_id, firm_drivers__driver__user=user).first()
    if organisation is None:
        raise Http404
    return FirmAccess(organisation=organisation, role=None)


def firm_require(user, organisation: Organisation, action: str) -> FirmAccess:
    """For services: the actor must hold a role that allows ``action`` in ``organisation``."""
    access = firm_access(user, organisation.id)
    access.require(action)
    return access
