from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from portal.adapters import request_region
from portal.errors import ApplicationError
from portal.models import Invitation, Organisation, Role, Vehicle
from portal.phones import PhoneField, parse_phone


def form_add_error(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's error next to the field it names, or above the form."""
    field = error.extra.get("field")
    form.add_error(field if field in form.fields else None, error.message)


class LoginForm(AllauthLoginForm):
    """Accepts a phone number the way people type it, as well as an email."""

    def clean_login(self):
        login = super().clean_login()
        if "@" not in login:
            number = parse_phone(login, request_region(self.request))
            if number is not None:
                return number.as_e164
        return login


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Name"), max_length=150, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class DriverProfileForm(forms.Form):
    licence_number = forms.CharField(label=_("Driving licence number"), max_length=40, required=False)
    id_document_number = forms.CharField(label=_("Passport or ID number"), max_length=40, required=False)
    nationality = CountryField(blank=True).formfield(label=_("Nationality"), required=False)


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Firm name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Organisation.Kind.choices)
    country = CountryField().formfield(label=_("Country"))
    registration_number = forms.CharField(
        label=_("Registration number"),
        max_length=40,
        help_text=_("China: Unified Social Credit Code (18 characters). Kazakhstan: BIN (12 digits)."),
    )


class InvitationForm(forms.Form):
    role = forms.ChoiceField(label=_("Invite as"), choices=Invitation.As.choices)
    phone = PhoneField(required=False, help_text=_("We send the invitation link by SMS."))
    email = forms.EmailField(label=_("or email"), required=False)

    def __init__(self, *args, roles=None, region=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].default_region = region
        self.fields["phone"].widget.default_region = region
        if roles is not None:
            self.fields["role"].choices = [c for c in Invitation.As.choices if c[0] in roles]
            if len(roles) == 1:
                self.fields["role"].widget = forms.HiddenInput()
                self.fields["role"].initial = roles[0]

    def clean(self):
        data = super().clean()
        if bool(data.get("phone")) == bool(data.get("email")):
            raise forms.ValidationError(_("Give either a phone number or an email address."))
        return data


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class VehicleForm(forms.Form):
    plate = forms.CharField(label=_("Plate"), max_length=20)
    country = CountryField().formfield(label=_("Country of registration"))
    kind = forms.ChoiceField(label=_("Kind"), choices=Vehicle.Kind.choices)
    trailer_plate = forms.CharField(label=_("Trailer plate"), max_length=20, required=False)


class InvitationSignupForm(forms.Form):
    display_name = forms.CharField(label=_("Your name"), max_length=150)
