from django import forms

from notifications.events import OPTIONAL_EVENTS
from notifications.models import Channel
from notifications.services import event_channels


class PreferencesForm(forms.Form):
    """One checkbox per optional event and channel."""

    def __init__(self, *args, current: dict[tuple[str, str], bool], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []
        for event in OPTIONAL_EVENTS:
            row = []
            for channel in event_channels(event.name):
                name = f"{event.name}|{channel}"
                self.fields[name] = forms.BooleanField(
                    label=Channel(channel).label, required=False, initial=current[(event.name, channel)]
                )
                row.append(name)
            self.rows.append((event, row))

    def table(self):
        """(event, [bound checkbox, …]) for the template."""
        return [(event, [self[name] for name in names]) for event, names in self.rows]

    def choices(self) -> dict[tuple[str, str], bool]:
        return {tuple(name.split("|")): value for name, value in self.cleaned_data.items()}
