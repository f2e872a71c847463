"""Sign-up and sign-in by phone and SMS code, by password, by email; MFA for officers."""

import re

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.urls import reverse

from portal.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, django_capture_on_commit_callbacks):
    """A client whose requests run their on-commit work (the SMS sends) at once."""

    class Committing:
        def __getattr__(self, name):
            attr = getattr(client, name)
            if name not in {"get", "post"}:
                return attr

            def call(*args, **kwargs):
                with django_capture_on_commit_callbacks(execute=True):
                    return attr(*args, **kwargs)

            return call

    return Committing()


def sms_code(outbox) -> str:
    assert outbox, "no SMS was sent"
    return re.search(r"\b(\d{6})\b", outbox[-1].body).group(1)


def test_sign_up_by_phone_typed_nationally_then_verify_with_sms_code(client, sms_outbox):
    response = client.post(
        reverse("account_signup"),
        {
            "phone_0": "KZ",
            "phone_1": "8 701 123 45 67",
            "display_name": "Nurlan",
            "email": "",
            "password1": "",
        },
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert (user.phone.as_e164, user.phone_verified, user.display_name, user.email) == (
        "+77011234567",
        False,
        "Nurlan",
        None,
    )
    assert [m.to for m in sms_outbox] == ["+77011234567"]
    assert "is your Landport code" in sms_outbox[0].body
    response = client.post(reverse("account_verify_phone"), {"code": sms_code(sms_outbox)})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.phone_verified is True
    assert client.get(reverse("home")).context["user"] == user


def test_wrong_sms_code_is_refused_and_changes_nothing(client, sms_outbox):
    client.post(reverse("account_signup"), {"phone_0": "CN", "phone_1": "138 0013 8000", "password1": ""})
    code = sms_code(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    response = client.post(reverse("account_verify_phone"), {"code": wrong})
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert User.objects.get().phone_verified is False


def test_sign_up_with_a_taken_phone_creates_nothing_and_sends_no_code(client, sms_outbox):
    owner = UserFactory(phone="+77011234567")
    response = client.post(
        reverse("account_signup"), {"phone_0": "KZ", "phone_1": "87011234567", "password1": ""}
    )
    # allauth prevents account enumeration: the page looks the same as for a new number,
    # but no account is made, nobody is signed in, and no code goes to the owner's phone.
    assert response.status_code == 302
    assert list(User.objects.values_list("pk", flat=True)) == [owner.pk]
    assert "_auth_user_id" not in client.session
    assert sms_outbox == []


def test_malformed_phone_on_sign_up_shows_the_error_in_russian(client):
    client.cookies["django_language"] = "ru"
    response = client.post(
        reverse("account_signup"),
        {"phone_0": "KZ", "phone_1": "12", "password1": ""},
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 200
    assert User.objects.count() == 0
    assert response.context["form"].errors["phone"]


def test_sign_in_by_sms_code_with_national_number(client, sms_outbox):
    user = UserFactory(phone="+77010000001")
    response = client.post(
        reverse("account_request_login_code"), {"phone_0": "KZ", "phone_1": "8 701 000 00 01"}
    )
    assert response.status_code == 302
    assert [m.to for m in sms_outbox] == ["+77010000001"]
    response = client.post(reverse("account_confirm_login_code"), {"code": sms_code(sms_outbox)})
    assert response.status_code == 302
    assert client.get(reverse("home")).context["user"] == user


def test_sign_in_by_phone_and_password(client):
    user = UserFactory(phone="+8613800138000")
    response = client.post(reverse("account_login"), {"login": "+86 138 0013 8000", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).context["user"] == user


def test_sign_in_by_email_and_password(client):
    from allauth.account.models import EmailAddress

    user = UserFactory(email="declarant@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(reverse("account_login"), {"login": "Declarant@Example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).context["user"] == user


def test_wrong_password_is_refused(client):
    UserFactory(phone="+77010000001")
    response = client.post(reverse("account_login"), {"login": "+77010000001", "password": "nope-nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_too_many_code_requests_for_one_number_are_rate_limited(
    sms_outbox, django_capture_on_commit_callbacks
):
    """SMS pumping: fresh sessions asking codes for one number are refused after three."""
    from django.test import Client

    UserFactory(phone="+77010000001")
    statuses = []
    for _ in range(6):
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().post(
                reverse("account_request_login_code"), {"phone_0": "KZ", "phone_1": "87010000001"}
            )
        statuses.append(response.status_code)
    assert statuses == [302, 302, 302, 200, 200, 200]  # 200: the form again, with the error
    assert "Too many" in response.content.decode()
    assert len(sms_outbox) == 3


def test_sign_up_needs_a_phone_or_an_email(client):
    response = client.post(
        reverse("account_signup"), {"phone_0": "KZ", "phone_1": "", "email": "", "password1": ""}
    )
    assert response.status_code == 200
    assert "phone number or an email" in response.content.decode()
    assert User.objects.count() == 0


def test_staff_without_mfa_are_sent_to_set_it_up(client, officer_x):
    client.force_login(officer_x)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url == reverse("mfa_activate_totp")


def test_staff_with_totp_sign_in_with_password_and_code_then_use_admin(client, officer_x):
    secret = pyotp.random_base32()
    TOTP.activate(officer_x, secret)
    response = client.post(reverse("account_login"), {"login": officer_x.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # not signed in until the second factor
    response = client.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_page_goes_through_allauth(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_non_staff_cannot_use_admin(client, firm_a):
    client.force_login(firm_a.admin)
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/login/").status_code == 403


def test_language_switch_saves_the_users_language(client, firm_a):
    client.force_login(firm_a.admin)
    response = client.post(reverse("language_set"), {"language": "ru", "next": "/"})
    assert response.status_code == 302
    firm_a.admin.refresh_from_db()
    assert firm_a.admin.language == "ru"
    assert client.get("/").context["LANGUAGE_CODE"] == "ru"


def test_profile_rejects_unknown_language_and_changes_nothing(client, firm_a):
    client.force_login(firm_a.admin)
    response = client.post(reverse("profile"), {"display_name": "X", "language": "xx"})
    assert response.status_code == 200
    assert response.context["form"].errors["language"]
    firm_a.admin.refresh_from_db()
    assert firm_a.admin.language == "en"


def test_change_phone_sends_a_code_to_the_new_number_then_verifies_it(client, sms_outbox):
    user = UserFactory(phone="+77010000001")
    client.force_login(user)
    response = client.post(reverse("account_change_phone"), {"phone": "8 701 999 88 77", "action_add": ""})
    assert response.status_code == 302
    assert [m.to for m in sms_outbox] == ["+77019998877"]
    response = client.post(reverse("account_verify_phone"), {"code": sms_code(sms_outbox)})
    user.refresh_from_db()
    assert (user.phone.as_e164, user.phone_verified) == ("+77019998877", True)


def test_signing_out_marks_the_phone_for_its_saved_passes_to_be_deleted(client_as, firm_a):
    client = client_as(firm_a.driver)
    # The confirmation page signs nobody out and marks nothing.
    page = client.get(reverse("account_logout"))
    assert page.status_code == 200 and "signed-out" not in page.cookies
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    cookie = response.cookies["signed-out"]
    # Read by the page's script (not HttpOnly) on the next page, which then deletes it.
    assert cookie.value == "1" and not cookie["httponly"] and cookie["path"] == "/"
    # The page after it carries the script that deletes the saved passes.
    home = client.get(response["Location"])
    assert b"portal/site.js" in home.content
