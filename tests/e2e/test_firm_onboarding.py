"""A firm admin on a phone: sign up by SMS code, register the firm, invite a driver,
add a truck, and switch the portal to Russian."""

import re

import pytest

from portal.models import Invitation, Vehicle
from tests.e2e.conftest import db_read

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_by_phone_create_firm_invite_driver_add_vehicle_switch_to_russian(
    live_server, phone_page, sms_outbox, tmp_path
):
    page = phone_page
    page.goto(live_server.url + "/accounts/signup/")
    page.select_option("select[name=phone_0]", "KZ")
    page.fill("input[name=phone_1]", "8 701 234 56 78")
    page.fill("input[name=display_name]", "Aliya")
    page.get_by_role("button", name="Sign Up").click()

    page.wait_for_url(re.compile(r"/accounts/phone/verify/"))
    assert [m.to for m in sms_outbox] == ["+77012345678"]
    code = re.search(r"\b(\d{6})\b", sms_outbox[0].body).group(1)
    page.fill("input[name=code]", code)
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("link", name="Register a firm").click()
    page.fill("input[name=name]", "Steppe Cargo")
    page.select_option("select[name=country]", "KZ")
    page.fill("input[name=registration_number]", "040840000550")
    page.get_by_role("button", name="Register").click()
    page.get_by_text("Firm created.").wait_for()

    page.get_by_role("link", name="Drivers").click()
    page.select_option("select[name=phone_0]", "KZ")
    page.fill("input[name=phone_1]", "8 777 555 44 33")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("Invitation sent.").wait_for()
    assert db_read(lambda: Invitation.objects.get().phone.as_e164) == "+77775554433"
    assert sms_outbox[-1].to == "+77775554433"

    page.get_by_role("link", name="Vehicles").click()
    page.fill("input[name=plate]", "123 ABA 01")
    page.select_option("select[name=kind]", "tractor")
    page.get_by_role("button", name="Add vehicle").click()
    page.get_by_text("Vehicle added.").wait_for()
    assert db_read(lambda: Vehicle.objects.get().plate_normalised) == "123ABA01"

    # Nothing is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "vehicles-en.png"), full_page=True)

    page.select_option("#language-switch", "ru")
    page.wait_for_function("document.documentElement.lang === 'ru'")
    assert page.get_by_role("link", name="Транспорт").is_visible()
    assert page.get_by_role("button", name="Добавить", exact=True).is_visible()
    assert page.get_by_text("Язык", exact=True).is_visible()
