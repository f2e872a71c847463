from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from declarations.models import Declaration
from portal.models import Membership, Role

DECLARING_ROLES = {Role.ADMIN, Role.DECLARANT}


def declaration_for(user, pk, *, write: bool = False) -> Declaration:
    """A declaration the user may see (write=False) or change (write=True).

    Members of the firm see it, its declarants and admins change it; the driver named on
    it sees it; officers of its port see it (they act in the back office). Anyone else
    gets 404, whether it exists or not; a role that may see but not change gets 403.
    """
    if not user.is_authenticated:
        raise Http404
    declaration = (
        Declaration.objects.select_related("organisation", "port", "vehicle", "driver__user", "declarant")
        .filter(pk=pk)
        .first()
    )
    if declaration is None:
        raise Http404
    role = (
        Membership.objects.filter(user=user, organisation_id=declaration.organisation_id)
        .values_list("role", flat=True)
        .first()
    )
    if role is not None:
        if write and role not in DECLARING_ROLES:
            raise PermissionDenied(_("Only the firm's declarants and admins can change declarations."))
        return declaration
    may_see = (declaration.driver is not None and declaration.driver.user_id == user.pk) or (
        user.is_staff and (user.is_superuser or user.ports.filter(pk=declaration.port_id).exists())
    )
    if not may_see:
        raise Http404
    if write:
        raise PermissionDenied(_("Only the firm's declarants and admins can change declarations."))
    return declaration


def declaration_detail(pk) -> Declaration:
    """One declaration with what its page or API answer shows; no access check."""
    return (
        Declaration.objects.select_related("port", "vehicle")
        .prefetch_related("goods", "documents")
        .get(pk=pk)
    )


def declarations_of(organisation, *, status: str = "") -> QuerySet[Declaration]:
    qs = (
        Declaration.objects.filter(organisation=organisation)
        .select_related("port", "vehicle", "driver__user")
        .annotate(goods_count=Count("goods", distinct=True))
    )
    return qs.filter(status=status) if status else qs


def declarations_of_driver(user) -> QuerySet[Declaration]:
    return Declaration.objects.filter(driver__user=user).select_related("port", "vehicle", "organisation")
