from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications import services
from notifications.models import DeliveryReport, Notification


@admin.action(description=_("Send again"), permissions=["change"])
def resend(modeladmin, request, queryset):
    count = sum(services.notification_resend(notification=n) for n in queryset)
    modeladmin.message_user(
        request,
        ngettext("%d notification queued again.", "%d notifications queued again.", count) % count,
        messages.SUCCESS,
    )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "channel",
        "address",
        "recipient",
        "language",
        "status",
        "attempts",
        "segments",
        "last_error",
    ]
    list_filter = ["status", "channel", "event", "language"]
    search_fields = ["address", "provider_message_id", "idempotency_key", "object_id"]
    date_hierarchy = "created_at"
    actions = [resend]
    list_select_related = ["recipient"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    change_list_template = "admin/notifications/notification/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        since = timezone.now() - timedelta(days=14)
        rows = (
            Notification.objects.filter(created_at__gte=since)
            .annotate(day=TruncDate("created_at"))
            .values("day", "channel", "status")
            .annotate(n=Count("id"))
            .order_by("-day", "channel", "status")
        )
        extra_context = {**(extra_context or {}), "daily_counts": list(rows)}
        return super().changelist_view(request, extra_context)


@admin.register(DeliveryReport)
class DeliveryReportAdmin(admin.ModelAdmin):
    list_display = ["received_at", "outcome", "signature_valid", "notification", "remote_addr"]
    list_filter = ["signature_valid", "outcome"]
    list_select_related = ["notification"]
    readonly_fields = [f.name for f in DeliveryReport._meta.fields]

    def has_add_permission(self, request):
        return False
