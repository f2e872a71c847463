from notifications.models import Channel, Notification


def unread(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notifications": Notification.objects.filter(
            recipient=user, channel=Channel.INAPP, read_at__isnull=True
        ).count()
    }
