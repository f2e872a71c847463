"""A border inspection officer on a phone at Khorgos: signs in with the authenticator, admits one
truck by the typed code and one by a keyboard-wedge scan, is refused the second pass a second
time, then loses the network, admits a third truck offline, and sees the scan sent once the
network is back."""

import base64
import io
import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pyotp
import pytest
import qrcode
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone
from playwright.sync_api import expect
from qrcode.image.pure import PyPNGImage

from bookings import passes, services
from bookings.models import Booking, GateEvent
from portal.models import Port
from tests.bookings.test_gate import booking_for, border_officer, shift
from tests.e2e.conftest import db_read
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def totp_code(secret: str) -> str:
    """A code that stays valid for the next few seconds (the server allows no drift)."""
    if 30 - time.time() % 30 < 3:
        time.sleep(3)
    return pyotp.TOTP(secret).now()


@pytest.fixture
def reference_data(transactional_db):
    """The migrated reference data is restored for every transactional test (tests/conftest.py);
    the process's cache of known ports is emptied with it."""
    passes._known_ports.clear()  # the ports behind the keys, cached for a minute by the process


@pytest.fixture
def scenario(reference_data, firm_a, settings, tmp_path):
    """Everything in the database before the browser starts: Django refuses the test's thread
    once Playwright's loop runs in it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    khorgos = Port.objects.get(code="KHG")
    bookings = []
    for hour in (10, 11, 12):
        made = booking_for(firm_a, khorgos, hour=hour)
        shift(made, timezone.now() - timedelta(minutes=10))
        bookings.append(Booking.objects.select_related("vehicle").get(pk=made.pk))
    officer = border_officer(mfa=False)
    secret = pyotp.random_base32()
    TOTP.activate(officer, secret)
    live = [services.live_pass(b) for b in bookings]
    return SimpleNamespace(
        officer=officer,
        secret=secret,
        bookings=bookings,
        plates=[b.vehicle.plate for b in bookings],
        tokens=[p.token for p in live],
        codes=[passes.format_short_code(p.short_code) for p in live],
        key=passes.public_key_b64("KHG"),
    )


def qr_png(text: str) -> str:
    buffer = io.BytesIO()
    qrcode.make(text, image_factory=PyPNGImage, box_size=6).save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


# jsQR reads a pass's QR code from a frame, as the camera path does where the browser has no
# BarcodeDetector; noble verifies its signature where WebCrypto has no Ed25519.
FALLBACKS = """async ([png, token, key, vendor]) => {
  await new Promise((ok, fail) => {
    const script = document.createElement("script");
    script.src = vendor.jsqr; script.onload = ok; script.onerror = fail;
    document.head.append(script);
  });
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const frame = context.getImageData(0, 0, image.width, image.height);
  const read = jsQR(frame.data, frame.width, frame.height);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const bytes = [];
  for (const ch of token) {
    value = ((value << 5) | alphabet.indexOf(ch)) & 0x1fff;
    bits += 5;
    if (bits >= 8) { bytes.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  const raw = new Uint8Array(bytes);
  const ed = await import(vendor.noble);
  const publicKey = Uint8Array.from(atob(key), (c) => c.charCodeAt(0));
  const genuine = await ed.verifyAsync(raw.slice(24), raw.slice(0, 24), publicKey, { zip215: false });
  raw[5] ^= 1;
  const altered = await ed.verifyAsync(raw.slice(24), raw.slice(0, 24), publicKey, { zip215: false });
  return [read && read.data, genuine, altered];
}"""


def test_officer_admits_by_code_and_wedge_refuses_a_used_pass_and_works_offline(
    scenario, live_server, phone_page, tmp_path
):
    page = phone_page
    result = page.locator("#gate-result")

    # Sign in: password, then the authenticator's code; the gate page follows.
    page.goto(live_server.url + "/gate/")
    page.wait_for_url(re.compile(r"/accounts/login/\?next=(/|%2F)gate(/|%2F)$"))
    page.fill("input[name=login]", scenario.officer.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.fill("input[name=code]", totp_code(scenario.secret))
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.wait_for_url(live_server.url + "/gate/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Khorgos")
    assert page.evaluate("document.activeElement.name") == "text"
    page.screenshot(path=str(tmp_path / "gate-scanner.png"), full_page=True)
    vendor = page.evaluate("JSON.parse(document.getElementById('gate-config').textContent).vendor")
    token = scenario.tokens[0]
    assert page.evaluate(FALLBACKS, [qr_png(token), token, scenario.key, vendor]) == [token, True, False]

    # 1. The code on the pass, typed.
    page.fill("input[name=code]", scenario.codes[0].lower())
    page.press("input[name=code]", "Enter")
    expect(result.locator(".verdict")).to_have_attribute("data-result", "admit")
    expect(result.locator(".word")).to_have_text("ADMIT")
    expect(result).to_contain_text(scenario.plates[0])
    expect(result.get_by_role("button", name="Release")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "gate-admit.png"), full_page=True)
    result.get_by_role("link", name="Next scan").click()
    expect(result).to_be_hidden()

    # 2. A keyboard-wedge scanner: the token typed into the focused field, then Enter.
    assert page.evaluate("document.activeElement.name") == "text"
    page.keyboard.type(scenario.tokens[1])
    page.keyboard.press("Enter")
    expect(result.locator(".verdict")).to_have_attribute("data-result", "admit")
    expect(result).to_contain_text(scenario.plates[1])

    # 3. The same pass again: refused, already used.
    result.get_by_role("link", name="Next scan").click()
    page.keyboard.type(scenario.tokens[1])
    page.keyboard.press("Enter")
    expect(result.locator(".verdict")).to_have_attribute("data-result", "refuse")
    expect(result.locator(".word")).to_have_text("REFUSE")
    expect(result).to_contain_text("This pass has already been used.")
    page.screenshot(path=str(tmp_path / "gate-refuse.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})  # a small Android phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 390, "height": 844})

    recorded = db_read(
        lambda: (
            [Booking.objects.get(pk=b.pk).status for b in scenario.bookings],
            list(GateEvent.objects.order_by("id").values_list("booking_id", "kind", "reason", "offline")),
        )
    )
    first, second, third = (b.pk for b in scenario.bookings)
    assert recorded == (
        ["checked_in", "checked_in", "active"],
        [
            (first, "admit", "", False),
            (second, "admit", "", False),
            (second, "refuse", "already_used", False),
        ],
    )

    # 4. No network: the page checks the pass with the port's key and keeps the scan.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    result.get_by_role("link", name="Next scan").click()
    page.context.set_offline(True)
    page.keyboard.type(scenario.tokens[2])
    page.keyboard.press("Enter")
    expect(result.locator(".word")).to_have_text("ADMIT (offline)")
    expect(result).to_contain_text(f"#{third}")
    expect(page.locator("#gate-queue")).to_have_text("Scans waiting to be sent: 1")
    assert db_read(lambda: GateEvent.objects.filter(booking_id=third).exists()) is False
    page.screenshot(path=str(tmp_path / "gate-offline.png"), full_page=True)

    # A typed code names a pass in the server's database: it cannot be checked here.
    result.get_by_role("link", name="Next scan").click()
    page.fill("input[name=code]", scenario.codes[2])
    page.press("input[name=code]", "Enter")
    expect(result.locator(".word")).to_have_text("NOT CHECKED")
    expect(result).to_contain_text("A typed code cannot be checked without the server: scan the QR code.")
    expect(page.locator("#gate-queue")).to_have_text("Scans waiting to be sent: 1")

    # The scanner page opens without the network too (the service worker's copy).
    page.reload()
    expect(page.locator("#scan-form")).to_be_visible()
    expect(page.locator("#gate-queue")).to_have_text("Scans waiting to be sent: 1")

    # 5. The network is back: the kept scan is sent and recorded, once.
    page.context.set_offline(False)
    expect(page.locator("#gate-queue")).to_be_hidden(timeout=20000)
    synced = db_read(
        lambda: (
            Booking.objects.get(pk=third).status,
            list(GateEvent.objects.filter(booking_id=third).values_list("kind", "offline", "used_twice")),
        )
    )
    assert synced == ("checked_in", [("admit", True, False)])
