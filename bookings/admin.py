"""The back office of bookings: lanes, capacity plans, slots, bookings and gate events.

Port operators and officers see the objects of their own ports only (superusers all); an
object of another port is a 404, not a hint that it exists. Times are shown in port time,
since that is how the port plans and how drivers are told.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from bookings import operations, passes
from bookings.models import (
    Booking,
    BookingPolicy,
    CapacityException,
    GateEvent,
    Lane,
    OpeningHours,
    Pass,
    Slot,
)
from portal.admin import PortScopedAdmin
from portal.models import Port
from portal.plates import plate_normalise

PORT_TIME = "Y-m-d H:i"
PLAN_APPLIES_AT_ONCE = _(
    "Applies at once to the slots already made for the coming days too, never below the "
    "places booked there. A slot whose capacity was set under Slots keeps it, unless the "
    "plan drops the slot."
)


def port_time(moment: datetime | None, port: Port) -> str:
    if moment is None:
        return "—"
    return date_format(timezone.localtime(moment, ZoneInfo(port.time_zone)), PORT_TIME)


def _own_ports(request):
    """The ports the user may see, as a subquery; None for a superuser (every port)."""
    return None if request.user.is_superuser else request.user.ports.values("pk")


class OwnPortsAdmin(PortScopedAdmin):
    """Scoped by ``port``; choices of port and lane in forms are the user's own."""

    port_field = "port"

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(gettext("No such object."))
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        ports = _own_ports(request)
        if db_field.name == "port" and ports is not None:
            kwargs["queryset"] = Port.objects.filter(pk__in=ports)
        if db_field.name == "lane":
            lanes = Lane.objects.select_related("port")
            kwargs["queryset"] = lanes if ports is None else lanes.filter(port__in=ports)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- filters


class LaneFilter(admin.SimpleListFilter):
    title = _("lane")
    parameter_name = "lane"
    field = "lane"

    def lookups(self, request, model_admin):
        lanes = Lane.objects.select_related("port")
        ports = _own_ports(request)
        if ports is not None:
            lanes = lanes.filter(port__in=ports)
        return [(str(lane.pk), str(lane)) for lane in lanes]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        if not self.value().isdigit():
            raise IncorrectLookupParameters(self.value())
        return queryset.filter(**{f"{self.field}_id": self.value()})


class BookingLaneFilter(LaneFilter):
    field = "slot__lane"


class PortDayFilter(admin.SimpleListFilter):
    """One day in each port's own time; any ISO date works in the address too."""

    title = _("day (port time)")
    parameter_name = "day"
    field = "starts_at"
    days = range(-1, 8)

    def lookups(self, request, model_admin):
        today = timezone.localtime(timezone.now(), ZoneInfo(settings.PORT_DEFAULT_TIME_ZONE)).date()
        names = {-1: _("Yesterday"), 0: _("Today"), 1: _("Tomorrow")}
        return [
            (
                (today + timedelta(days=n)).isoformat(),
                names.get(n) or date_format(today + timedelta(days=n), "D j M"),
            )
            for n in self.days
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            day = date.fromisoformat(self.value())
        except ValueError as error:
            raise IncorrectLookupParameters(error) from error
        condition = Q()
        for port_id, zone in Port.objects.values_list("pk", "time_zone"):
            start = datetime.combine(day, time(), tzinfo=ZoneInfo(zone))
            condition |= Q(
                port_id=port_id,
                **{f"{self.field}__gte": start, f"{self.field}__lt": start + timedelta(days=1)},
            )
        return queryset.filter(condition)


class BookingDayFilter(PortDayFilter):
    field = "slot__starts_at"


class GateDayFilter(PortDayFilter):
    field = "scanned_at"
    days = range(-6, 1)


class FillFilter(admin.SimpleListFilter):
    title = _("fill")
    parameter_name = "fill"

    def lookups(self, request, model_admin):
        return [("full", _("full")), ("free", _("places free")), ("empty", _("nothing booked"))]

    def queryset(self, request, queryset):
        if self.value() == "full":
            return queryset.filter(booked__gte=F("capacity"))
        if self.value() == "free":
            return queryset.filter(booked__lt=F("capacity"))
        if self.value() == "empty":
            return queryset.filter(booked=0)
        return queryset


# --- the plan


class PlanAdmin(OwnPortsAdmin):
    """A lane, opening hours, an exception or the policy saved or deleted: the port's plan
    is applied at once to its slots already made for the coming days, in the same
    transaction (``services.slots_replan``), and the operator is told what changed."""

    def _apply(self, request, port, change):
        port = Port.objects.get(pk=port.pk)  # not the one holding a policy just deleted
        result = operations.plan_apply(actor=request.user, port=port, change=change)
        self.message_user(
            request,
            gettext(
                "%(port)s: slots of the coming days follow the plan: %(changed)s changed, "
                "%(removed)s removed, %(created)s added."
            )
            % {
                "port": port.code,
                "changed": result.changed,
                "removed": result.removed,
                "created": result.created,
            },
            messages.INFO,
        )
        if result.held:
            self.message_user(
                request,
                ngettext(
                    "%(count)s booked place is in a slot the plan now closes or makes smaller. "
                    "Its booking stands: ask the firm to move it.",
                    "%(count)s booked places are in slots the plan now closes or makes smaller. "
                    "Their bookings stand: ask the firms to move them.",
                    result.held,
                )
                % {"count": result.held},
                messages.WARNING,
            )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._apply(request, obj.port, f"{obj._meta.model_name} {obj.pk} saved")
        moved_from = form.initial.get("port") if "port" in form.changed_data else None
        if change and moved_from:  # an entry moved to another port: the old one changed too
            self._apply(request, Port(pk=moved_from), f"{obj._meta.model_name} {obj.pk} moved away")

    def delete_model(self, request, obj):
        port, pk = obj.port, obj.pk
        super().delete_model(request, obj)
        self._apply(request, port, f"{obj._meta.model_name} {pk} deleted")

    @transaction.atomic  # the admin's bulk delete runs outside a transaction of its own
    def delete_queryset(self, request, queryset):
        ports = list(Port.objects.filter(pk__in=queryset.values("port_id")))
        name = queryset.model._meta.model_name
        super().delete_queryset(request, queryset)
        for port in ports:
            self._apply(request, port, f"{name} entries deleted")


@admin.register(Lane)
class LaneAdmin(PlanAdmin):
    list_display = ["name", "port", "type", "direction", "capacity", "active", "position"]
    list_filter = [("port", admin.RelatedOnlyFieldListFilter), "type", "direction", "active"]
    list_select_related = ["port"]
    ordering = ["port", "position", "id"]

    def get_readonly_fields(self, request, obj=None):
        return ["port"] if obj is not None else []

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "capacity":
            field.help_text = PLAN_APPLIES_AT_ONCE
        return field


class BookingPolicyForm(forms.ModelForm):
    class Meta:
        model = BookingPolicy
        fields = [
            "port",
            "slot_minutes",
            "window_days",
            "cutoff_minutes",
            "early_minutes",
            "late_minutes",
            "no_show_grace_minutes",
            "no_show_limit",
            "firm_daily_quota",
            "reminder_minutes",
        ]

    def clean(self):
        data = super().clean()
        grace, late = data.get("no_show_grace_minutes"), data.get("late_minutes")
        if grace is not None and late is not None and grace < late:
            # Otherwise a truck the gate would still admit late is already a no-show.
            self.add_error(
                "no_show_grace_minutes",
                _("At least as long as trucks are admitted late (%(minutes)s minutes).") % {"minutes": late},
            )
        return data


@admin.register(BookingPolicy)
class BookingPolicyAdmin(PlanAdmin):
    form = BookingPolicyForm
    list_display = [
        "port",
        "slot_minutes",
        "window_days",
        "cutoff_minutes",
        "no_show_grace_minutes",
        "no_show_limit",
        "firm_daily_quota",
        "reminder_minutes",
    ]
    list_select_related = ["port"]

    def get_readonly_fields(self, request, obj=None):
        return ["port"] if obj is not None else []


@admin.register(OpeningHours)
class OpeningHoursAdmin(PlanAdmin):
    list_display = ["port", "weekday", "opens", "closes"]
    list_filter = [("port", admin.RelatedOnlyFieldListFilter), "weekday"]
    list_select_related = ["port"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "closes":
            field.help_text = _(
                "Port time. At or before the opening time: closes the next day; "
                "00:00 to 00:00 is the whole day."
            )
        return field


class CapacityExceptionForm(forms.ModelForm):
    class Meta:
        model = CapacityException
        fields = ["port", "lane", "date", "closed", "capacity", "reason"]

    def clean(self):
        data = super().clean()
        port, lane = data.get("port") or getattr(self.instance, "port", None), data.get("lane")
        if lane is not None and port is not None and lane.port_id != port.pk:
            self.add_error("lane", _("This lane is at another port."))
        if not data.get("closed") and data.get("capacity") is None:
            self.add_error("capacity", _("Close the day or give its capacity."))
        return data


@admin.register(CapacityException)
class CapacityExceptionAdmin(PlanAdmin):
    form = CapacityExceptionForm
    list_display = ["date", "port", "lane", "closed", "capacity", "reason"]
    list_filter = [("port", admin.RelatedOnlyFieldListFilter), "closed"]
    list_select_related = ["port", "lane__port"]
    date_hierarchy = "date"
    ordering = ["-date", "port"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in {"closed", "capacity"}:
            field.help_text = PLAN_APPLIES_AT_ONCE
        return field


# --- slots


class SlotForm(forms.ModelForm):
    class Meta:
        model = Slot
        fields = ["capacity"]
        help_texts = {"capacity": _("Set here, this slot keeps it when the plan changes.")}

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        rows = Slot.objects.filter(pk=self.instance.pk)
        if transaction.get_connection().in_atomic_block:
            # The change form saves in this transaction: the lock holds until then.
            rows = rows.select_for_update()
        booked = rows.values_list("booked", flat=True).get()
        if capacity < booked:
            raise forms.ValidationError(
                _("%(booked)s places of this slot are booked; the capacity cannot be less."),
                code="below_booked",
                params={"booked": booked},
            )
        return capacity


@admin.register(Slot)
class SlotAdmin(OwnPortsAdmin):
    form = SlotForm
    list_display = ["starts", "port", "lane_name", "capacity", "by_hand", "booked", "fill"]
    list_filter = [("port", admin.RelatedOnlyFieldListFilter), LaneFilter, PortDayFilter, FillFilter]
    list_select_related = ["port", "lane"]
    ordering = ["starts_at", "lane__position", "id"]
    fields = ["port", "lane", "starts", "ends", "capacity", "by_hand", "booked", "fill"]
    readonly_fields = ["port", "lane", "starts", "ends", "by_hand", "booked", "fill"]

    def has_add_permission(self, request):
        return False  # slots come from the plan

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Only the capacity is written: a full save would put back a stale ``booked``.
        # The form's check took the row lock in this transaction, so the service's own check holds.
        operations.slot_capacity_set(actor=request.user, slot=obj, capacity=form.cleaned_data["capacity"])

    @admin.display(description=_("starts (port time)"), ordering="starts_at")
    def starts(self, obj):
        return port_time(obj.starts_at, obj.port)

    @admin.display(description=_("ends (port time)"), ordering="ends_at")
    def ends(self, obj):
        return port_time(obj.ends_at, obj.port)

    @admin.display(description=_("capacity set by hand"), boolean=True)
    def by_hand(self, obj):
        return obj.planned_capacity is None

    @admin.display(description=_("lane"), ordering="lane__position")
    def lane_name(self, obj):
        return obj.lane.name

    @admin.display(description=_("fill"))
    def fill(self, obj):
        if not obj.capacity:
            return "—"
        percent = round(100 * obj.booked / obj.capacity)
        return format_html(
            '<progress value="{}" max="{}">{}%</progress> {}%', obj.booked, obj.capacity, percent, percent
        )


# --- bookings and the gate


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PassInline(ReadOnlyInline):
    model = Pass
    # The token is a bearer credential: it stays out of the back office.
    fields = ["code", "valid_from_local", "valid_until_local", "issued_at", "revoked_at", "used_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("booking__port")

    @admin.display(description=_("short code"))
    def code(self, obj):
        return passes.format_short_code(obj.short_code)

    @admin.display(description=_("valid from (port time)"))
    def valid_from_local(self, obj):
        return port_time(obj.valid_from, obj.booking.port)

    @admin.display(description=_("valid until (port time)"))
    def valid_until_local(self, obj):
        return port_time(obj.valid_until, obj.booking.port)


class GateEventInline(ReadOnlyInline):
    model = GateEvent
    fk_name = "booking"
    fields = ["scanned", "kind", "reason", "officer", "offline", "used_twice", "comment"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("port", "officer")

    @admin.display(description=_("scanned (port time)"))
    def scanned(self, obj):
        return port_time(obj.scanned_at, obj.port)


class ReadOnlyAdmin(OwnPortsAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _typed_code_or_plate(term: str, *, booking: str, vehicle: str) -> Q:
    """A short code typed with or without its dash, or a plate typed any way. ``booking`` and
    ``vehicle`` are the paths from the listed model to the booking's id and its vehicle."""
    by_code = Pass.objects.filter(short_code=passes.normalise_short_code(term)).values("booking_id")
    return Q(**{f"{booking}__in": by_code}) | Q(**{f"{vehicle}__plate_normalised": plate_normalise(term)})


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "plate",
        "organisation",
        "declaration_reference",
        "port",
        "lane",
        "slot_start",
        "status",
        "short_code",
        "port_delay",
    ]
    list_display_links = ["pk", "plate"]
    list_filter = ["status", ("port", admin.RelatedOnlyFieldListFilter), BookingLaneFilter, BookingDayFilter]
    list_select_related = ["port", "slot__lane", "vehicle", "organisation", "declaration"]
    search_fields = ["vehicle__plate", "declaration__reference", "organisation__name"]
    search_help_text = _("Plate, short code, declaration reference or firm.")
    fieldsets = [
        (None, {"fields": ["status", "port", "lane", "slot_start", "slot_end", "short_code"]}),
        (
            _("Who"),
            {"fields": ["organisation", "declaration", "vehicle", "driver", "created_by"]},
        ),
        (
            _("When"),
            {"fields": ["created_at", "cancelled_at", "checked_in_at", "port_delay", "reminded_at"]},
        ),
    ]
    readonly_fields = ["lane", "slot_start", "slot_end", "short_code", "port_delay"]
    inlines = [PassInline, GateEventInline]

    def get_queryset(self, request):
        live = Pass.objects.filter(revoked_at__isnull=True)
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("passes", queryset=live, to_attr="live_passes"))
        )

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            results = results | queryset.filter(
                _typed_code_or_plate(search_term.strip(), booking="pk", vehicle="vehicle")
            )
        return results, duplicates

    @admin.display(description=_("plate"), ordering="vehicle__plate_normalised")
    def plate(self, obj):
        return obj.vehicle.plate

    @admin.display(description=_("declaration"), ordering="declaration__reference")
    def declaration_reference(self, obj):
        return obj.declaration.reference

    @admin.display(description=_("lane"))
    def lane(self, obj):
        return obj.slot.lane.name

    @admin.display(description=_("slot (port time)"), ordering="slot__starts_at")
    def slot_start(self, obj):
        return port_time(obj.slot.starts_at, obj.port)

    @admin.display(description=_("slot ends (port time)"))
    def slot_end(self, obj):
        return port_time(obj.slot.ends_at, obj.port)

    @admin.display(description=_("short code"))
    def short_code(self, obj):
        live = obj.live_passes[0] if obj.live_passes else None
        return passes.format_short_code(live.short_code) if live else "—"

    @admin.display(description=_("port delay"), ordering="port_delay_seconds")
    def port_delay(self, obj):
        """Slot start to check-in: positive when the port kept the truck waiting."""
        if obj.port_delay_seconds is None:
            return "—"
        minutes = round(obj.port_delay_seconds / 60)
        return gettext("%(sign)s%(minutes)s min") % {"sign": "+" if minutes > 0 else "", "minutes": minutes}


@admin.register(GateEvent)
class GateEventAdmin(ReadOnlyAdmin):
    list_display = ["scanned", "port", "kind", "reason", "plate", "officer", "offline", "used_twice"]
    list_filter = [
        "kind",
        "offline",
        "used_twice",
        ("port", admin.RelatedOnlyFieldListFilter),
        GateDayFilter,
    ]
    search_fields = ["booking__vehicle__plate", "booking__declaration__reference", "reason"]
    search_help_text = _("Plate, short code or declaration reference.")
    fields = [
        "scanned",
        "recorded",
        "port",
        "booking",
        "pass_code",
        "officer",
        "kind",
        "reason",
        "comment",
        "offline",
        "used_twice",
    ]
    readonly_fields = ["scanned", "recorded", "pass_code"]

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            results = results | queryset.filter(
                _typed_code_or_plate(search_term.strip(), booking="booking_id", vehicle="booking__vehicle")
            )
        return results, duplicates

    def get_queryset(self, request):
        # Here rather than list_select_related, which the changelist skips once any is set.
        return super().get_queryset(request).select_related("port", "booking__vehicle", "officer", "pass_obj")

    @admin.display(description=_("scanned (port time)"), ordering="scanned_at")
    def scanned(self, obj):
        return port_time(obj.scanned_at, obj.port)

    @admin.display(description=_("recorded (port time)"), ordering="recorded_at")
    def recorded(self, obj):
        return port_time(obj.recorded_at, obj.port)

    @admin.display(description=_("plate"))
    def plate(self, obj):
        return obj.booking.vehicle.plate if obj.booking_id else "—"

    @admin.display(description=_("short code"))
    def pass_code(self, obj):
        return passes.format_short_code(obj.pass_obj.short_code) if obj.pass_obj_id else "—"
