import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from declarations import services
from portal.models import Port

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201c5e2c1b80000000049454e44ae426082"
)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + b"\x00" * 64 + b"\xff\xd9"


def upload(name="invoice.pdf", content=PDF):
    return SimpleUploadedFile(name, content)


GOODS = {
    "hs_code": "270112",
    "description": "Coking coal",
    "quantity": "40",
    "unit": "t",
    "gross_kg": "40500",
    "net_kg": "40000",
    "value": "5200",
    "currency": "USD",
    "origin_country": "MN",
}


@pytest.fixture
def khorgos(db):
    return Port.objects.get(code="KHG")


@pytest.fixture
def draft(firm_a, khorgos):
    """A complete draft of firm A at Khorgos: coal, one goods item, invoice and CMR."""
    declaration = services.declaration_create(
        actor=firm_a.declarant,
        organisation=firm_a.organisation,
        port=khorgos,
        direction="import",
        mode="local",
        cargo_category="energy",
        vehicle=firm_a.vehicle,
        driver=firm_a.driver.driver,
        planned_arrival=timezone.now() + timezone.timedelta(days=1),
    )
    services.goods_add(actor=firm_a.declarant, declaration=declaration, **GOODS)
    for kind in ("invoice", "cmr"):
        services.document_add(actor=firm_a.declarant, declaration=declaration, kind=kind, upload=upload())
    return declaration


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
