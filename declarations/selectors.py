from datetime import timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from declarations import convoy
from declarations.models import CargoCategory, Declaration
from portal.joined import JoinedRead
from portal.models import Driver, Role, Vehicle

DECLARING_ROLES = {Role.ADMIN, Role.DECLARANT}


# What a declaration's pages and API answers use; a caller that needs less names less.
DECLARATION_RELATED = ("organisation", "port", "vehicle", "driver__user", "declarant")


def declaration_for(user, pk, *, write: bool = False, related=DECLARATION_RELATED) -> Declaration:
    """A declaration the user may see (write=False) or change (write=True), read in one query
    with the user's role in its firm and the ``related`` rows.

    Members of the firm see it, its declarants and admins change it; the driver named on
    it sees it; officers of its port see it (they act in the back office). Anyone else
    gets 404, whether it exists or not; a role that may see but not change gets 403.
    """
    if not user.is_authenticated:
        raise Http404
    try:
        declaration = with_role_of(user, pk, related)
    except (Declaration.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    role = declaration._role_of[1]
    if role is not None:
        if write and role not in DECLARING_ROLES:
            raise PermissionDenied(_("Only the firm's declarants and admins can change declarations."))
        return declaration
    may_see = (declaration.driver_id is not None and declaration.driver.user_id == user.pk) or (
        user.is_staff and (user.is_superuser or user.ports.filter(pk=declaration.port_id).exists())
    )
    if not may_see:
        raise Http404
    if write:
        raise PermissionDenied(_("Only the firm's declarants and admins can change declarations."))
    return declaration


def with_role_of(user, pk, related=DECLARATION_RELATED) -> Declaration:
    """One declaration and its ``related`` rows, with the user's role in its firm (None for
    a non-member), in one query, kept as ``_role_of = (user id, role)`` so that permission
    checks later in the request (``bookings.services.may_book``) need not ask again. Raises
    ``Declaration.DoesNotExist``, or ValueError for a ``pk`` that cannot be one."""
    read = _READS.get(related)
    if read is None:
        read = _READS[related] = JoinedRead(Declaration, list(related), extra={"viewer_role": _ROLE_SQL})
    declaration = read.first(pk=pk, extra_params=[user.pk])
    if declaration is None:
        raise Declaration.DoesNotExist
    declaration._role_of = (user.pk, declaration.viewer_role)
    return declaration


# The reader's role in the declaration's firm, beside the declaration (``t0``).
_ROLE_SQL = (
    '(SELECT m."role" FROM "portal_membership" m'
    ' WHERE m."user_id" = %s AND m."organisation_id" = t0."organisation_id" LIMIT 1)'
)
_READS: dict[tuple, JoinedRead] = {}


def role_known(declaration: Declaration, user) -> tuple[bool, str | None]:
    """(True, role) if the declaration was read with ``with_role_of`` for this user."""
    known = getattr(declaration, "_role_of", None)
    return (True, known[1]) if known is not None and known[0] == user.pk else (False, None)


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


def convoy_sample(template: Declaration) -> str:
    """A CSV to start a convoy from: the header and one row with the firm's first vehicle."""
    vehicle = Vehicle.objects.filter(organisation=template.organisation_id).first()
    driver = (
        template.driver
        or Driver.objects.filter(firm_links__organisation=template.organisation_id)
        .select_related("user")
        .first()
    )
    item = None if template.cargo_category == CargoCategory.EMPTY else template.goods.first()
    tomorrow = timezone.localdate(timezone=ZoneInfo(template.port.time_zone)) + timedelta(days=1)
    return convoy.sample_csv(
        plate=vehicle.plate if vehicle else "",
        driver=_driver_identifier(driver),
        gross_kg=f"{item.gross_kg.normalize():f}" if item else "",
        net_kg=f"{item.net_kg.normalize():f}" if item else "",
        planned_arrival=f"{tomorrow:%Y-%m-%d} 08:00",
    )


def _driver_identifier(driver: Driver | None) -> str:
    """What a convoy file names a driver by: the licence number, else the phone."""
    if driver is None:
        return ""
    if driver.licence_number:
        return driver.licence_number
    return driver.user.phone.as_e164 if driver.user.phone else ""
