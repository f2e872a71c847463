from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from declarations.models import CargoCategory, Direction, DocumentKind, Mode, Unit
from portal.models import Driver, Port, Vehicle


class HeaderForm(forms.Form):
    port = forms.ModelChoiceField(label=_("Port"), queryset=Port.objects.all())
    direction = forms.ChoiceField(label=_("Direction"), choices=Direction.choices)
    mode = forms.ChoiceField(label=_("Mode"), choices=Mode.choices)
    cargo_category = forms.ChoiceField(label=_("Cargo"), choices=CargoCategory.choices)
    vehicle = forms.ModelChoiceField(label=_("Vehicle"), queryset=Vehicle.objects.none(), required=False)
    driver = forms.ModelChoiceField(label=_("Driver"), queryset=Driver.objects.none(), required=False)
    planned_arrival = forms.DateTimeField(
        label=_("Planned arrival (port time)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vehicle"].queryset = Vehicle.objects.filter(organisation=organisation)
        self.fields["driver"].queryset = Driver.objects.filter(
            firm_links__organisation=organisation
        ).select_related("user")


class GoodsForm(forms.Form):
    hs_code = forms.CharField(
        label=_("HS code"),
        max_length=14,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "270112"}),
    )
    description = forms.CharField(label=_("Description"), max_length=300)
    quantity = forms.CharField(label=_("Quantity"), widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    unit = forms.ChoiceField(label=_("Unit"), choices=Unit.choices)
    gross_kg = forms.CharField(
        label=_("Gross weight, kg"), widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    net_kg = forms.CharField(
        label=_("Net weight, kg"), widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    value = forms.CharField(label=_("Value"), widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    currency = forms.CharField(
        label=_("Currency"),
        max_length=3,
        widget=forms.TextInput(attrs={"placeholder": "CNY", "autocapitalize": "characters"}),
    )
    origin_country = CountryField().formfield(label=_("Country of origin"))


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=DocumentKind.choices)
    file = forms.FileField(
        label=_("File or photo"),
        help_text=_("PDF, JPEG, PNG or HEIC, up to 10 MB. On a phone you can take a photo."),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/*"}),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class ConvoyForm(forms.Form):
    file = forms.FileField(
        label=_("Convoy file"),
        help_text=_("CSV (UTF-8, comma or semicolon) or XLSX, up to 2,000 rows and 2 MB."),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".csv,.xlsx,text/csv,"
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        ),
    )
