"""Extra signup fields; its own module because allauth imports it while building its forms."""

from django import forms
from django.utils.translation import gettext_lazy as _


class SignupExtraForm(forms.Form):
    display_name = forms.CharField(label=_("Your name"), max_length=150, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("phone") and not data.get("email") and not self.errors:
            raise forms.ValidationError(_("Give a phone number or an email address."))
        return data

    def signup(self, request, user):
        """The adapter reads display_name while saving the user; nothing else to do."""
