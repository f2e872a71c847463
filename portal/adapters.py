import secrets

from allauth.account.adapter import DefaultAccountAdapter
from django.utils import translation

from notifications.services import notify
from portal.models import User
from portal.phones import LANGUAGE_REGION, PhoneField


def client_ip(request) -> str | None:
    """The client's address as allauth sees it (behind TRUSTED_PROXY_COUNT proxies)."""
    try:
        return AccountAdapter(request).get_client_ip(request)
    except Exception:  # a malformed forwarding header: no address rather than an error
        return None


def request_region(request) -> str | None:
    """The country a typed national number most likely belongs to, from the UI language."""
    return LANGUAGE_REGION.get(translation.get_language() or "")


class AccountAdapter(DefaultAccountAdapter):
    """Phone numbers live on our User model; codes go out through the SMS transport."""

    def phone_form_field(self, **kwargs):
        return PhoneField(default_region=request_region(self.request), **kwargs)

    def set_phone(self, user, phone, verified):
        user.phone = phone
        user.phone_verified = verified
        if user.pk:  # during sign-up the user is saved afterwards, by save_user
            user.save(update_fields=["phone", "phone_verified"])

    def get_phone(self, user):
        if not user.phone:
            return None
        return user.phone.as_e164, user.phone_verified

    def set_phone_verified(self, user, phone):
        # Also the end of a phone change: the new number replaces the old one only now,
        # once its code has been entered.
        user.phone = phone
        user.phone_verified = True
        user.save(update_fields=["phone", "phone_verified"])

    def get_user_by_phone(self, phone):
        return User.objects.filter(phone=phone).order_by("pk").first()

    def send_verification_code_sms(self, user, phone, code, **kwargs):
        notify(
            "auth.code",
            address=str(phone),
            language=getattr(user, "language", None) or translation.get_language(),
            context={"code": code},
            key=secrets.token_hex(8),  # every code is a message of its own
            client_ip=self.get_client_ip(self.request) if self.request else None,
        )

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        user.display_name = form.cleaned_data.get("display_name", "") or ""
        user.language = translation.get_language() or user.language
        if not user.email:
            user.email = None
        if commit:
            user.save()
        return user
