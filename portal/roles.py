"""Officer roles are Django groups; their permissions are kept in step on every migrate.

Other apps add their models' permissions to ROLE_PERMISSIONS as they arrive; a
permission that does not exist (yet) is skipped.
"""

from django.utils.translation import gettext_noop

CUSTOMS_OFFICER = gettext_noop("Customs officer")
BORDER_INSPECTION_OFFICER = gettext_noop("Border inspection officer")
PORT_OPERATOR = gettext_noop("Port operator")
SUPERVISOR = gettext_noop("Supervisor")

_READ_REFERENCE = [
    "portal.view_port",
    "portal.view_organisation",
    "portal.view_vehicle",
    "portal.view_driver",
]

_DECLARATIONS_READ = [
    "declarations.view_declaration",
    "declarations.view_goodsitem",
    "declarations.view_document",
    "declarations.view_declarationevent",
]
_DECLARATIONS_REVIEW = [*_DECLARATIONS_READ, "declarations.review_declaration"]

_BOOKINGS_READ = [
    "bookings.view_lane",
    "bookings.view_bookingpolicy",
    "bookings.view_openinghours",
    "bookings.view_capacityexception",
    "bookings.view_slot",
    "bookings.view_booking",
    "bookings.view_pass",
    "bookings.view_gateevent",
]
_BOOKINGS_PLAN = [
    "bookings.add_lane",
    "bookings.change_lane",
    "bookings.change_bookingpolicy",
    "bookings.add_openinghours",
    "bookings.change_openinghours",
    "bookings.delete_openinghours",
    "bookings.add_capacityexception",
    "bookings.change_capacityexception",
    "bookings.delete_capacityexception",
    "bookings.change_slot",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMS_OFFICER: [*_READ_REFERENCE, "portal.verify_organisation", *_DECLARATIONS_REVIEW],
    BORDER_INSPECTION_OFFICER: [
        *_READ_REFERENCE,
        *_DECLARATIONS_READ,
        *_BOOKINGS_READ,
        "bookings.scan_pass",
    ],
    PORT_OPERATOR: [*_READ_REFERENCE, "portal.change_port", *_BOOKINGS_READ, *_BOOKINGS_PLAN],
    SUPERVISOR: [
        *_READ_REFERENCE,
        "portal.verify_organisation",
        "portal.change_port",
        "portal.view_user",
        "portal.view_auditevent",
        "notifications.view_notification",
        "notifications.change_notification",  # the "send again" action
        "notifications.view_deliveryreport",
        *_DECLARATIONS_REVIEW,
        "declarations.view_riskrule",
        "declarations.add_riskrule",
        "declarations.change_riskrule",
        "declarations.view_portpolicy",
        "declarations.change_portpolicy",
        *_BOOKINGS_READ,
        *_BOOKINGS_PLAN,
        "bookings.scan_pass",
    ],
}
OFFICER_ROLES = list(ROLE_PERMISSIONS)


def roles_sync(**kwargs):
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if found:
                wanted.append(found)
        group.permissions.set(wanted)
