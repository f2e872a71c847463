from notifications.events import OPTIONAL_EVENTS
from notifications.models import Channel, Notification, Preference
from notifications.services import default_enabled, event_channels, recipients_annotated


def inbox(user, limit: int = 100):
    return Notification.objects.filter(recipient=user, channel=Channel.INAPP).exclude(status="failed")[:limit]


def preferences_for(user) -> dict[tuple[str, str], bool]:
    """Every optional (event, channel) with the user's choice or the default."""
    annotated = recipients_annotated([user.pk]).get()
    saved = {(p.event, p.channel): p.enabled for p in Preference.objects.filter(user=user)}
    return {
        (event.name, channel): saved.get((event.name, channel), default_enabled(annotated, channel))
        for event in OPTIONAL_EVENTS
        for channel in event_channels(event.name)
    }
