from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    INAPP = "inapp", _("In the portal")


class Notification(models.Model):
    """The outbox and the delivery log in one: a row per recipient, channel and event.

    Written inside the transaction of the change it tells about, sent by a task after
    commit; the idempotency key makes a second write of the same message a no-op.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    # The phone (E.164) or email it goes to, fixed when written; empty for in-app.
    address = models.CharField(_("address"), max_length=254, blank=True, db_index=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    event = models.CharField(_("event"), max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    organisation = models.ForeignKey(
        "portal.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("text"))
    html = models.TextField(blank=True)
    segments = models.PositiveSmallIntegerField(_("SMS segments"), default=0)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    sensitive = models.BooleanField(
        default=False, help_text=_("The text is blanked once sent (sign-in codes).")
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    # Sends again from the admin; each gets a key of its own at the provider.
    resends = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    provider_message_id = models.CharField(
        _("provider's message id"), max_length=128, blank=True, db_index=True
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["recipient", "channel", "read_at"], name="notification_inbox"),
        ]

    def __str__(self):
        return f"{self.event} → {self.address or self.recipient} ({self.channel}, {self.status})"

    @property
    def send_key(self) -> str:
        """The idempotency key given to the provider."""
        return self.idempotency_key if not self.resends else f"{self.idempotency_key}#resend{self.resends}"


class Preference(models.Model):
    """A user's choice for one event on one channel; without a row the default applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event", "channel"], name="preference_unique")]

    def __str__(self):
        return f"{self.user}: {self.event}/{self.channel}={'on' if self.enabled else 'off'}"


class DeliveryReport(models.Model):
    """Every delivery report the SMS gateway posted, valid or not, as received."""

    received_at = models.DateTimeField(_("received"), default=timezone.now)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    body = models.TextField()
    signature_valid = models.BooleanField(_("signature valid"))
    notification = models.ForeignKey(Notification, null=True, blank=True, on_delete=models.SET_NULL)
    outcome = models.CharField(_("outcome"), max_length=200)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("delivery report")
        verbose_name_plural = _("delivery reports")

    def __str__(self):
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class NotificationRequest(models.Model):
    """A ``notify`` call left to the workers: one row written in the caller's transaction, with
    no rendering and no lookups, so a busy request (a booking, a gate scan) stays short. A
    task expands it into ``Notification`` rows after commit; if the broker was down, the
    sweeper does. Expanding twice writes nothing the second time (the rows' idempotency keys).
    """

    event = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    key = models.CharField(max_length=100, blank=True)
    recipients = models.JSONField(default=list)
    context = models.JSONField(default=dict)
    organisation = models.ForeignKey(
        "portal.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expanded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(expanded_at__isnull=True),
                name="notification_request_due",
            )
        ]

    def __str__(self):
        return f"{self.event} {self.object_type}:{self.object_id}"
