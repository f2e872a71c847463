"""A driver on a phone books a slot from his declaration, opens the pass, goes offline,
reloads, and still sees the pass: the QR code and the short code."""

import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from bookings import passes, services
from bookings.models import Booking
from portal.models import Port, Vehicle
from tests.bookings.conftest import submitted
from tests.declarations.conftest import _media, draft
from tests.e2e.conftest import db_read
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["_media", "draft", "submitted"]  # fixtures shared with the other booking tests


@pytest.fixture
def khorgos(transactional_db):
    """Khorgos with its lanes and plan (restored for every transactional test, tests/conftest.py)."""
    return Port.objects.get(code="KHG")


# A phone whose clock is on Moscow time (UTC+3, no summer time) while the port keeps Beijing time.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "locale": "en-US",
    "is_mobile": True,
    "timezone_id": "Europe/Moscow",
}


def fits_the_phone(page):
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_driver_books_opens_the_pass_goes_offline_and_still_sees_it(
    submitted, firm_a, live_server, browser, tmp_path
):
    driver = firm_a.driver
    assert "localhost" in live_server.url  # a secure context: service workers run there
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)

        # Sign in with the phone number and password.
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=login]", driver.phone.as_e164)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign In", exact=True).click()
        page.wait_for_url(live_server.url + "/")

        # From the trip on the home page to the declaration, and on to the day's free places.
        page.get_by_role("link", name=submitted.reference).click()
        page.wait_for_url(re.compile(rf"/declarations/{submitted.pk}/$"))
        page.get_by_role("link", name="Book a slot").click()
        page.wait_for_url(re.compile(rf"/declarations/{submitted.pk}/book/"))
        # The phone has told the server its zone: port time, and the phone's own beside it.
        expect(
            page.get_by_text("Times at Khorgos, UTC+8; your phone's time (UTC+3) in small print.")
        ).to_be_visible()
        page.locator("nav.days a").nth(1).click()  # tomorrow
        page.wait_for_url(re.compile(r"\?day=\d{4}-\d{2}-\d{2}$"))
        expect(page.locator("section.lane h2")).to_have_text(["Lane 2 Energy priority"])
        assert fits_the_phone(page)
        page.screenshot(path=str(tmp_path / "grid.png"), full_page=True)

        # Ten in the morning at the port is five in Moscow, the same day.
        ten = page.locator("button.slot.s-free").filter(
            has=page.locator(".slot-time", has_text=re.compile("^10:00$"))
        )
        expect(ten).to_contain_text("20 free")
        expect(ten.locator(".own")).to_have_text("05:00")
        port_clock = ten.locator(".slot-time").inner_text()
        ten.click()
        page.wait_for_url(re.compile(r"/bookings/\d+/$"))
        expect(page.get_by_role("status")).to_contain_text("Booked.")

        booking = db_read(lambda: Booking.objects.select_related("slot", "port").get(declaration=submitted))
        live = db_read(lambda: services.live_pass(booking))
        code = passes.format_short_code(live.short_code)
        starts = booking.slot.starts_at
        assert f"{starts.astimezone(ZoneInfo('Asia/Shanghai')):%H:%M}" == port_clock
        moscow = f"{starts.astimezone(ZoneInfo('Europe/Moscow')):%H:%M}"

        # The pass: QR large, short code, plate, times, lane, status; kept for offline use.
        page.get_by_role("link", name="Show the pass").click()
        page.wait_for_url(re.compile(rf"/bookings/{booking.pk}/pass/$"))
        expect(page.locator(".pass .code")).to_have_text(f"Short code: {code}")
        expect(page.locator(".pass .plate")).to_have_text(firm_a.vehicle.plate)
        expect(page.locator(".pass")).to_contain_text(f"{port_clock} (Khorgos, UTC+8) · {moscow} your time")
        expect(page.locator(".pass")).to_contain_text("Lane 2 · Energy priority")
        expect(page.locator(".pass")).to_contain_text("Booked")
        expect(page.get_by_text("Saved on this phone")).to_be_visible()
        qr_width = page.locator(".qr svg").bounding_box()["width"]
        assert qr_width >= 300  # large: nearly the whole width of the phone
        assert fits_the_phone(page)

        # No network at all, and a reload: the service worker answers with the saved pass. The
        # plate corrected on the server meanwhile proves that the page is not the server's.
        context.set_offline(True)
        db_read(lambda: Vehicle.objects.filter(pk=firm_a.vehicle.pk).update(plate="NEW 000 01"))
        page.reload()
        expect(page.locator(".pass .code")).to_have_text(f"Short code: {code}")
        expect(page.locator(".pass .plate")).to_have_text(firm_a.vehicle.plate)
        expect(page.locator(".qr svg path")).to_have_count(1)
        assert page.locator(".qr svg").bounding_box()["width"] == qr_width  # the saved CSS too
        expect(page.get_by_text("No network: this is the pass as it was last opened.")).to_be_visible()
        assert page.evaluate("navigator.serviceWorker.controller !== null")
        assert fits_the_phone(page)
        page.screenshot(path=str(tmp_path / "pass-offline.png"), full_page=True)

        # Signing out takes the pass off the phone: offline again, the next person to hold it
        # sees nobody's pass.
        context.set_offline(False)
        pass_url = page.url
        page.goto(live_server.url + "/")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()
        for _ in range(50):  # the page deletes it as it loads, asynchronously
            if "landport-passes" not in page.evaluate("caches.keys()"):
                break
            page.wait_for_timeout(100)
        else:
            pytest.fail("the saved passes are still on the phone after signing out")
        assert "signed-out" not in {cookie["name"] for cookie in context.cookies()}
        context.set_offline(True)
        with pytest.raises(PlaywrightError, match="ERR_"):
            page.goto(pass_url)
    finally:
        context.close()
