"""For pages of other apps (the home page) to show declarations without importing this app."""

from django import template

from declarations.models import Status
from declarations.selectors import declarations_of_driver

register = template.Library()


@register.simple_tag
def driver_trips(user, limit: int = 20):
    return declarations_of_driver(user).exclude(status__in=[Status.DRAFT, Status.WITHDRAWN])[:limit]
