"""A declarant on a phone files a declaration with two goods items and a photo, submits it
and sees its channel; an officer accepts it in the back office; the declarant sees the history."""

import base64
import re
import time
from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone
from playwright.sync_api import expect

from declarations.models import Declaration, PortPolicy
from portal.models import Port
from tests.e2e.conftest import db_read
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "en-US", "is_mobile": True}


@pytest.fixture
def khorgos(transactional_db, settings, tmp_path):
    """Khorgos with its risk rules and no random sample, so that the channel follows the rules alone."""
    settings.MEDIA_ROOT = tmp_path / "media"
    port = Port.objects.get(code="KHG")
    PortPolicy.objects.update_or_create(port=port, defaults={"random_sample_percent": 0})
    return port


@pytest.fixture
def scenario(khorgos, firm_a, officer_x):
    """Everything in the database before the browser starts: Django refuses the test's thread
    once Playwright's loop runs in it."""
    secret = pyotp.random_base32()
    TOTP.activate(officer_x, secret)
    return SimpleNamespace(
        port=khorgos,
        firm=firm_a.organisation,
        declarant=firm_a.declarant,
        vehicle=firm_a.vehicle,
        driver=firm_a.driver.driver,
        officer=officer_x,
        officer_secret=secret,
    )


def totp_code(secret: str) -> str:
    """A code that stays valid for the next few seconds (the server allows no drift)."""
    if 30 - time.time() % 30 < 3:
        time.sleep(3)
    return pyotp.TOTP(secret).now()


def photo_of_a_certificate(page) -> bytes:
    """A real JPEG, as a phone's camera gives: drawn on a canvas and encoded by the browser."""
    data_url = page.evaluate(
        """() => {
            const canvas = document.createElement("canvas");
            canvas.width = 120;
            canvas.height = 160;
            const ctx = canvas.getContext("2d");
            ctx.fillStyle = "#f4f1e8";
            ctx.fillRect(0, 0, 120, 160);
            ctx.fillStyle = "#1a4d2e";
            ctx.fillRect(10, 10, 100, 14);
            ctx.fillStyle = "#333";
            for (let y = 40; y < 150; y += 12) ctx.fillRect(10, y, 90, 4);
            return canvas.toDataURL("image/jpeg", 0.85);
        }"""
    )
    assert data_url.startswith("data:image/jpeg;base64,")
    return base64.b64decode(data_url.split(",", 1)[1])


def add_goods_item(page, position, **fields):
    page.fill("input[name=hs_code]", fields["hs_code"])
    page.fill("input[name=description]", fields["description"])
    page.fill("input[name=quantity]", fields["quantity"])
    page.select_option("select[name=unit]", fields["unit"])
    page.fill("input[name=gross_kg]", fields["gross_kg"])
    page.fill("input[name=net_kg]", fields["net_kg"])
    page.fill("input[name=value]", fields["value"])
    page.fill("input[name=currency]", fields["currency"])
    page.select_option("select[name=origin_country]", fields["origin_country"])
    page.get_by_role("button", name="Add item").click()
    expect(page.locator("ul.list > li").nth(position - 1)).to_contain_text(f"{position}. {fields['hs_code']}")


def upload_document(page, kind, label, file):
    page.select_option("select[name=kind]", kind)
    page.set_input_files("input[name=file]", file)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("ul.list > li", has_text=label)).to_contain_text(file["name"])


def test_declarant_files_and_submits_officer_accepts_declarant_sees_history(
    scenario, live_server, browser, phone_page, tmp_path
):
    page = phone_page
    arrival = (timezone.now().astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).replace(
        second=0, microsecond=0
    )

    # The declarant signs in with the phone number and password.
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", scenario.declarant.phone.as_e164)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.wait_for_url(live_server.url + "/")

    # From the firm's card on the home page to a new declaration.
    page.get_by_role("link", name="Declarations").click()
    page.wait_for_url(re.compile(rf"/firms/{scenario.firm.pk}/declarations/$"))
    page.get_by_role("link", name="New declaration").click()
    page.wait_for_url(re.compile(rf"/firms/{scenario.firm.pk}/declarations/new/$"))

    # 1. Header.
    page.select_option("select[name=port]", str(scenario.port.pk))
    page.select_option("select[name=direction]", "import")
    page.select_option("select[name=mode]", "local")
    page.select_option("select[name=cargo_category]", "agricultural")
    page.select_option("select[name=vehicle]", str(scenario.vehicle.pk))
    page.select_option("select[name=driver]", str(scenario.driver.pk))
    page.fill("input[name=planned_arrival]", arrival.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r"/declarations/(\d+)/goods/$"))
    pk = int(re.search(r"/declarations/(\d+)/goods/", page.url).group(1))
    reference = db_read(lambda: Declaration.objects.get(pk=pk).reference)
    assert re.fullmatch(r"KHG-\d{4}-\d{6}", reference)
    expect(page.get_by_role("heading", level=1)).to_have_text(reference)

    # 2. Two goods items.
    add_goods_item(
        page,
        1,
        hs_code="080810",
        description="Fresh apples",
        quantity="18",
        unit="t",
        gross_kg="19500",
        net_kg="18000",
        value="9000",
        currency="USD",
        origin_country="CN",
    )
    add_goods_item(
        page,
        2,
        hs_code="070200",
        description="Fresh tomatoes",
        quantity="2",
        unit="t",
        gross_kg="2200",
        net_kg="2000",
        value="1400",
        currency="USD",
        origin_country="CN",
    )
    page.get_by_role("link", name="Next: documents").click()
    page.wait_for_url(re.compile(rf"/declarations/{pk}/documents/$"))

    # 3. Documents: what agricultural cargo needs, the CMR as a photo.
    expect(page.get_by_text("Still needed:")).to_contain_text("Phytosanitary certificate")
    photo = photo_of_a_certificate(page)
    assert photo[:3] == b"\xff\xd8\xff"
    upload_document(
        page, "cmr", "CMR consignment note", {"name": "cmr.jpg", "mimeType": "image/jpeg", "buffer": photo}
    )
    upload_document(
        page, "invoice", "Invoice", {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    upload_document(
        page,
        "phytosanitary",
        "Phytosanitary certificate",
        {"name": "phyto.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    expect(page.get_by_text("Still needed:")).to_have_count(0)
    page.get_by_role("link", name="Next: review").click()
    page.wait_for_url(re.compile(rf"/declarations/{pk}/review/$"))

    # 4. Review and submit: a new firm's first declaration goes to the yellow channel, whatever
    # the green rule for perishables says.
    expect(page.get_by_text("Documents are missing")).to_have_count(0)
    page.get_by_role("button", name="Submit to customs").click()
    page.wait_for_url(re.compile(rf"/declarations/{pk}/$"))
    expect(page.get_by_role("status")).to_have_text("Submitted. Risk channel: Yellow: document check.")
    expect(page.locator(".badge.ch-yellow")).to_have_text("Yellow: document check")
    expect(page.get_by_text("One of the firm's first declarations")).to_be_visible()

    submitted = db_read(
        lambda: Declaration.objects.values(
            "status", "channel", "channel_reasons", "priority", "planned_arrival"
        ).get(pk=pk)
    )
    assert submitted == {
        "status": "submitted",
        "planned_arrival": arrival,  # typed in the port's time
        "channel": "yellow",
        "channel_reasons": [
            "One of the firm's first declarations",
            "Agricultural produce: green channel, 30-minute review",
        ],
        "priority": True,
    }
    stored = db_read(
        lambda: (
            list(Declaration.objects.get(pk=pk).goods.values_list("hs_code", flat=True)),
            sorted(Declaration.objects.get(pk=pk).documents.values_list("kind", "content_type", "size")),
        )
    )
    assert stored == (
        ["080810", "070200"],
        [
            ("cmr", "image/jpeg", len(photo)),
            ("invoice", "application/pdf", len(PDF)),
            ("phytosanitary", "application/pdf", len(PDF)),
        ],
    )

    # The officer, on a phone of their own: sign-in page, then the authenticator code.
    officer_context = browser.new_context(**PHONE)
    try:
        officer = officer_context.new_page()
        officer.set_default_timeout(15000)
        officer.goto(live_server.url + "/admin/")
        officer.wait_for_url(re.compile(r"/accounts/login/\?next=(/|%2F)admin(/|%2F)$"))
        officer.fill("input[name=login]", scenario.officer.email)
        officer.fill("input[name=password]", PASSWORD)
        officer.get_by_role("button", name="Sign In", exact=True).click()
        officer.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
        officer.fill("input[name=code]", totp_code(scenario.officer_secret))
        officer.get_by_role("button", name="Sign In", exact=True).click()
        officer.wait_for_url(live_server.url + "/admin/")

        # The review queue, the declaration itself, then the "Accept" action.
        officer.locator("#declarations-declaration").get_by_role("link", name="Declarations").click()
        officer.wait_for_url(re.compile(r"/admin/declarations/declaration/$"))
        officer.get_by_role("link", name=reference).click()
        officer.wait_for_url(re.compile(rf"/admin/declarations/declaration/{pk}/change/$"))
        expect(officer.locator("body")).to_contain_text("080810")
        expect(officer.locator("body")).to_contain_text("cmr.jpg")
        officer.locator(".breadcrumbs a[href$='/admin/declarations/declaration/']").click()
        officer.wait_for_url(re.compile(r"/admin/declarations/declaration/$"))
        officer.check(f"input[name=_selected_action][value='{pk}']")
        officer.select_option("select[name=action]", label="Accept")
        officer.get_by_role("button", name="Go").click()
        expect(officer.locator(".messagelist")).to_contain_text("1 declaration done.")
    finally:
        officer_context.close()

    decided = db_read(lambda: Declaration.objects.values("status", "decided_by").get(pk=pk))
    assert decided == {"status": "accepted", "decided_by": scenario.officer.pk}

    # Back to the declarant: the declaration's page shows its history.
    page.goto(f"{live_server.url}/declarations/{pk}/")
    expect(page.locator("section.card .badge").first).to_have_text("Accepted")
    history = page.locator("ol.history > li")
    expect(history).to_have_count(3)
    expect(history.nth(0)).to_contain_text("Draft")
    expect(history.nth(1)).to_contain_text("Submitted")
    expect(history.nth(1)).to_contain_text(str(scenario.declarant))
    expect(history.nth(2)).to_contain_text("Accepted")
    expect(history.nth(2)).to_contain_text(str(scenario.officer))

    # The photo comes back as it was taken.
    href = page.get_by_role("link", name="CMR consignment note: cmr.jpg").get_attribute("href")
    served = page.request.get(live_server.url + href)
    assert served.headers["content-type"] == "image/jpeg"
    assert served.body() == photo

    # Nothing is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "declaration-accepted.png"), full_page=True)
