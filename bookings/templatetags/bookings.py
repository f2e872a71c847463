"""Times of slots as people at the port and in the cab read them, and booking links for the
pages of other apps (a declaration's page) without those apps importing this one.

Times are stored in UTC. They are shown in the port's zone, with the viewer's own time beside
them when the phone is in a zone with another offset; the browser reports its zone in the
``tz`` cookie (set by bookings/tz.js).
"""

from datetime import datetime, time

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

from bookings import passes, selectors, services
from declarations.models import Declaration

register = template.Library()


def utc_offset(moment: datetime) -> str:
    """UTC+8, UTC+5:30, UTC−3."""
    minutes = int(moment.utcoffset().total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes >= 0 else '−'}{hours}" + (f":{rest:02d}" if rest else "")


def _day(moment: datetime) -> str:
    return f"{date_format(moment, 'D')} {date_format(moment, 'MONTH_DAY_FORMAT')}"


def _viewer_zone(context):
    request = context.get("request")
    return selectors.zone_named(request.COOKIES.get("tz")) if request is not None else None


def _own(moment: datetime, port_moment: datetime, zone) -> datetime | None:
    """The moment in the viewer's zone, or None when that reads the same as port time."""
    if zone is None:
        return None
    own = timezone.localtime(moment, zone)
    return None if own.utcoffset() == port_moment.utcoffset() else own


@register.simple_tag(takes_context=True)
def slot_time(context, moment: datetime, port):
    """E.g. "Tue May 14, 10:00 (Khorgos, UTC+8) · 07:00 your time"."""
    local = timezone.localtime(moment, services.port_zone(port))
    text = format_html(
        '{}<strong>{}</strong> <span class="zone">({}, {})</span>',
        f"{_day(local)}, ",
        date_format(local, "H:i"),
        port.name,
        utc_offset(local),
    )
    own = _own(moment, local, _viewer_zone(context))
    if own is not None:
        shown = date_format(own, "H:i") if own.date() == local.date() else f"{_day(own)}, {own:%H:%M}"
        text = format_html(
            '{} <span class="own">· {}</span>', text, _("%(time)s your time") % {"time": shown}
        )
    return text


@register.simple_tag(takes_context=True)
def own_time(context, moment: datetime, port) -> str:
    """The viewer's own clock time of a moment, or "" when it reads the same as port time."""
    local = timezone.localtime(moment, services.port_zone(port))
    own = _own(moment, local, _viewer_zone(context))
    return date_format(own, "H:i") if own is not None else ""


@register.simple_tag
def port_clock(moment: datetime, port) -> str:
    return date_format(timezone.localtime(moment, services.port_zone(port)), "H:i")


@register.simple_tag
def zone_label(port, day) -> str:
    """ "Khorgos, UTC+8": the port's zone on that day."""
    return f"{port.name}, {utc_offset(datetime.combine(day, time(12), tzinfo=services.port_zone(port)))}"


@register.simple_tag(takes_context=True)
def own_zone_label(context, port, day) -> str:
    """ "UTC+5" when the viewer's phone keeps another offset than the port that day, else ""."""
    zone = _viewer_zone(context)
    if zone is None:
        return ""
    noon = datetime.combine(day, time(12), tzinfo=services.port_zone(port))
    own = _own(noon, noon, zone)
    return utc_offset(own) if own is not None else ""


@register.filter
def day_label(day) -> str:
    """Short, for a row of day links: "Mon 23"."""
    return date_format(day, "D j")


@register.filter
def day_long(day) -> str:
    return _day(day)


@register.filter
def short_code(code: str) -> str:
    return passes.format_short_code(code) if code else ""


@register.simple_tag
def can_book(user, declaration: Declaration) -> bool:
    """Whether to offer "Book a slot" on a declaration's page."""
    return declaration.status in services.BOOKABLE_DECLARATIONS and services.may_book(user, declaration)
