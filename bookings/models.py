"""Capacity plans, slots, bookings, passes and what happens at the gate.

Times are stored in UTC. A port's plan (opening hours, exceptions) is written in the port's
own time zone, because that is how its operators think of it.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class LaneType(models.TextChoices):
    GENERAL = "general", _("General cargo")
    GREEN = "green", _("Green channel: agricultural produce")
    ENERGY = "energy", _("Energy priority")
    VEHICLE_EXPORT = "vehicle_export", _("Vehicle export")
    EMPTY_RETURN = "empty_return", _("Empty return")


class LaneDirection(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class Lane(models.Model):
    port = models.ForeignKey("portal.Port", on_delete=models.CASCADE, related_name="lanes")
    name = models.CharField(_("name"), max_length=60)
    type = models.CharField(_("type"), max_length=20, choices=LaneType.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=LaneDirection.choices)
    capacity = models.PositiveIntegerField(_("trucks per slot"), default=10)
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["port", "position", "id"]
        verbose_name = _("lane")
        verbose_name_plural = _("lanes")

    def __str__(self):
        return f"{self.port.code} {self.name}"


class BookingPolicy(models.Model):
    """How a port books: slot length, window, cut-off, tolerances, penalties."""

    port = models.OneToOneField("portal.Port", on_delete=models.CASCADE, related_name="booking_policy")
    slot_minutes = models.PositiveSmallIntegerField(
        _("slot length (minutes)"), choices=[(30, "30"), (60, "60")], default=60
    )
    window_days = models.PositiveSmallIntegerField(_("booking opens (days ahead)"), default=7)
    cutoff_minutes = models.PositiveIntegerField(_("cut-off before the slot (minutes)"), default=60)
    early_minutes = models.PositiveIntegerField(_("admitted early by up to (minutes)"), default=60)
    late_minutes = models.PositiveIntegerField(_("admitted late by up to (minutes)"), default=60)
    no_show_grace_minutes = models.PositiveIntegerField(_("no-show after slot end + (minutes)"), default=60)
    no_show_limit = models.PositiveIntegerField(
        _("no-shows in 30 days before bookings are refused"), null=True, blank=True, default=5
    )
    firm_daily_quota = models.PositiveIntegerField(
        _("bookings per firm per day"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    reminder_minutes = models.PositiveIntegerField(_("reminder before the slot (minutes)"), default=120)

    class Meta:
        verbose_name = _("booking policy")
        verbose_name_plural = _("booking policies")

    def __str__(self):
        return str(self.port)


class OpeningHours(models.Model):
    """A port's hours on one weekday, in port time. closes ≤ opens runs past midnight;
    opens = closes = 00:00 is the whole day."""

    port = models.ForeignKey("portal.Port", on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(
        _("weekday"),
        choices=[
            (0, _("Monday")),
            (1, _("Tuesday")),
            (2, _("Wednesday")),
            (3, _("Thursday")),
            (4, _("Friday")),
            (5, _("Saturday")),
            (6, _("Sunday")),
        ],
    )
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        ordering = ["port", "weekday", "opens"]
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")

    def __str__(self):
        return f"{self.port.code} {self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class CapacityException(models.Model):
    """One day (port time) that differs from the plan: closed, or another capacity."""

    port = models.ForeignKey("portal.Port", on_delete=models.CASCADE, related_name="capacity_exceptions")
    lane = models.ForeignKey(
        Lane, on_delete=models.CASCADE, null=True, blank=True, help_text=_("Empty: every lane.")
    )
    date = models.DateField(_("date"))
    closed = models.BooleanField(_("closed"), default=False)
    capacity = models.PositiveIntegerField(_("trucks per slot"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["port", "date"]
        verbose_name = _("capacity exception")
        verbose_name_plural = _("capacity exceptions")

    def __str__(self):
        return f"{self.port.code} {self.date}"


class Slot(models.Model):
    """Places in one lane for one time window; ``booked`` is kept by the booking services."""

    port = models.ForeignKey("portal.Port", on_delete=models.CASCADE, related_name="slots")
    lane = models.ForeignKey(Lane, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    capacity = models.PositiveIntegerField(_("capacity"))
    booked = models.PositiveIntegerField(_("booked"), default=0)
    # The plan's capacity for this slot (0: the plan no longer has it); empty once an operator
    # set the capacity by hand, which a later change of the plan then leaves alone. The
    # capacity is more only while bookings hold it: each place given back lowers it to this.
    planned_capacity = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["starts_at", "lane__position"]
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        constraints = [
            models.UniqueConstraint(fields=["lane", "starts_at"], name="slot_lane_start_unique"),
        ]
        indexes = [models.Index(fields=["port", "starts_at"], name="slot_port_start")]

    def __str__(self):
        return f"{self.lane} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def free(self) -> int:
        return max(self.capacity - self.booked, 0)


class BookingStatus(models.TextChoices):
    ACTIVE = "active", _("Booked")
    CHECKED_IN = "checked_in", _("Checked in")
    RELEASED = "released", _("Released")
    HELD = "held", _("Held")
    EXITED = "exited", _("Exited")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


# A booking holds a place (and blocks a second one for the vehicle) in these states.
HOLDING = [BookingStatus.ACTIVE, BookingStatus.CHECKED_IN, BookingStatus.HELD]


class Booking(models.Model):
    port = models.ForeignKey("portal.Port", on_delete=models.PROTECT, related_name="bookings")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="bookings")
    organisation = models.ForeignKey(
        "portal.Organisation", on_delete=models.PROTECT, related_name="bookings", verbose_name=_("firm")
    )
    declaration = models.ForeignKey(
        "declarations.Declaration", on_delete=models.PROTECT, related_name="bookings"
    )
    vehicle = models.ForeignKey("portal.Vehicle", on_delete=models.PROTECT, related_name="bookings")
    driver = models.ForeignKey(
        "portal.Driver", on_delete=models.PROTECT, null=True, blank=True, related_name="bookings"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=12, choices=BookingStatus.choices, default=BookingStatus.ACTIVE
    )
    created_at = models.DateTimeField(_("booked"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("checked in"), null=True, blank=True)
    # Slot start → check-in, in seconds: the port's own delay when positive.
    port_delay_seconds = models.IntegerField(_("port delay (s)"), null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle", "port"],
                condition=Q(status__in=HOLDING),
                name="booking_one_active_per_vehicle_port",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status"], name="booking_org_status"),
            models.Index(fields=["status", "slot"], name="booking_status_slot"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.vehicle} {self.slot}"

    @property
    def is_holding(self) -> bool:
        return self.status in HOLDING


class Pass(models.Model):
    """One issued pass of a booking; moving or cancelling revokes it."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="passes")
    nonce = models.CharField(max_length=16, unique=True)
    short_code = models.CharField(_("short code"), max_length=12, unique=True)
    token = models.TextField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    issued_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("pass")
        verbose_name_plural = _("passes")
        constraints = [
            models.UniqueConstraint(
                fields=["booking"], condition=Q(revoked_at__isnull=True), name="pass_one_live_per_booking"
            ),
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="pass_window_order"),
        ]

    def __str__(self):
        return self.short_code


class GateEventKind(models.TextChoices):
    ADMIT = "admit", _("Admitted")
    REFUSE = "refuse", _("Refused")
    RELEASE = "release", _("Released")
    HOLD = "hold", _("Held")
    EXIT = "exit", _("Exited")


class GateEvent(models.Model):
    """One scan or decision at the gate. A client nonce makes a retried scan count once."""

    port = models.ForeignKey("portal.Port", on_delete=models.PROTECT, related_name="gate_events")
    booking = models.ForeignKey(
        Booking, on_delete=models.PROTECT, null=True, blank=True, related_name="gate_events"
    )
    pass_obj = models.ForeignKey(
        Pass, on_delete=models.PROTECT, null=True, blank=True, related_name="gate_events", db_column="pass_id"
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="gate_events"
    )
    kind = models.CharField(_("result"), max_length=10, choices=GateEventKind.choices)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    client_nonce = models.CharField(max_length=64, null=True, blank=True, unique=True)
    offline = models.BooleanField(_("scanned offline"), default=False)
    # Two admits of one pass: found when offline scans are sent later.
    used_twice = models.BooleanField(_("pass used twice"), default=False)
    scanned_at = models.DateTimeField(_("scanned"))
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        ordering = ["-scanned_at", "-id"]
        verbose_name = _("gate event")
        verbose_name_plural = _("gate events")
        permissions = [("scan_pass", _("Can scan passes at the gate"))]
        indexes = [models.Index(fields=["port", "scanned_at"], name="gateevent_port_time")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.scanned_at:%Y-%m-%d %H:%M}"
