"""Phone numbers as people type them, turned into E.164."""

import phonenumbers
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from phonenumber_field.phonenumber import PhoneNumber

# Offered first in the country picker: the port's neighbours and China.
COMMON_REGIONS = ["KZ", "CN", "MN", "KG", "PK", "RU", "UZ", "TJ"]

# The region guessed from the interface language when the form does not say.
LANGUAGE_REGION = {"kk": "KZ", "zh-hans": "CN", "mn": "MN", "ru": "KZ"}


def region_choices():
    from django_countries import countries

    def label(code):
        # The dial code first: a narrow phone screen shows the start of the label.
        return f"+{phonenumbers.country_code_for_region(code)} {countries.name(code)}"

    common = [(code, label(code)) for code in COMMON_REGIONS]
    others = sorted(
        (
            (code, label(code))
            for code in phonenumbers.SUPPORTED_REGIONS
            if code not in COMMON_REGIONS and code in dict(countries)
        ),
        key=lambda choice: choice[1],
    )
    return common + others


def parse_phone(raw: str, region: str | None = None) -> PhoneNumber | None:
    """Return the number as a valid PhoneNumber, or None.

    "8 701 123 45 67" in KZ, "138 0013 8000" in CN and "+976 9911 2233" anywhere all
    parse; the trunk prefix, spaces, dashes and brackets are taken care of.
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = PhoneNumber.from_string(raw, region=region or settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return number if number.is_valid() else None


class PhoneWidget(forms.MultiWidget):
    template_name = "portal/widgets/phone.html"

    def __init__(self, attrs=None, default_region=None):
        self.default_region = default_region
        widgets = [
            forms.Select(attrs={"autocomplete": "tel-country-code", "aria-label": _("Country")}),
            forms.TextInput(
                attrs={
                    "type": "tel",
                    "autocomplete": "tel-national",
                    "inputmode": "tel",
                    "placeholder": "701 123 45 67",
                }
            ),
        ]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        if not value:
            return [self.default_region, ""]
        number = parse_phone(str(value))
        if number is None:
            return [None, str(value)]
        region = phonenumbers.region_code_for_number(number)
        return [region, number.as_national]

    def value_from_datadict(self, data, files, name):
        # A form that posts one plain field (allauth's phone change page) is read as typed.
        if f"{name}_1" not in data and name in data:
            return data[name]
        return super().value_from_datadict(data, files, name)

    def get_context(self, name, value, attrs):
        self.widgets[0].choices = region_choices()
        return super().get_context(name, value, attrs)


class PhoneField(forms.MultiValueField):
    """A country picker and the number as typed; cleans to an E.164 string."""

    widget = PhoneWidget
    default_error_messages = {
        "invalid": _("Enter a valid phone number, e.g. 8 701 123 45 67 or +86 138 0013 8000."),
    }

    def __init__(self, *, default_region=None, **kwargs):
        self.default_region = default_region
        fields = (forms.CharField(required=False), forms.CharField(required=False))
        kwargs.setdefault("label", _("Phone"))
        super().__init__(fields, require_all_fields=False, **kwargs)
        self.widget.default_region = default_region

    def compress(self, data_list):
        if not data_list or not (data_list[1] or "").strip():
            return ""
        region, raw = data_list
        number = parse_phone(raw, region or self.default_region)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number.as_e164

    def clean(self, value):
        # A single string (API clients, tests) is taken as it comes.
        if isinstance(value, str):
            value = [self.default_region, value]
        return super().clean(value)
