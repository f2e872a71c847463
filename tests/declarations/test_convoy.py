"""Filing a convoy: one draft per row of a CSV or XLSX file, every row checked first."""

import io
import zipfile
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from declarations import services
from declarations.models import CargoCategory, ConvoyImport, Declaration, DeclarationEvent, GoodsItem
from declarations.tasks import convoy_process
from portal.models import AuditEvent
from tests.declarations.conftest import GOODS, PNG
from tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

HEADER = ["plate", "driver", "gross_kg", "net_kg", "planned_arrival"]


def csv_upload(rows, *, header=HEADER, delimiter=",", bom=False, name="convoy.csv", encoding="utf-8"):
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    text = ("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n"
    return SimpleUploadedFile(name, text.encode(encoding))


def fleet(firm, count):
    """The firm's vehicle and more, ``count`` in all."""
    return [firm.vehicle, *VehicleFactory.create_batch(count - 1, organisation=firm.organisation)]


def licence(firm):
    return firm.driver.driver.licence_number


def weights(i):
    """Different weights on every row, so that each draft can be matched to its row."""
    return str(20000 + i), str(19000 + i)


def valid_rows(firm, count):
    return [[v.plate, licence(firm), *weights(i), ""] for i, v in enumerate(fleet(firm, count))]


def post(client, template, upload):
    return client.post(reverse("declarations:convoy_new", args=[template.pk]), {"file": upload})


def last_convoy():
    return ConvoyImport.objects.order_by("-id").first()


def test_500_rows_become_500_drafts_by_the_worker(
    client_as, firm_a, draft, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    rows = valid_rows(firm_a, 500)
    before = Declaration.objects.count()
    client = client_as(firm_a.declarant)
    # Bulk inserts and one progress update per 50 rows: about 50 queries, not several per row.
    with django_assert_max_num_queries(60), django_capture_on_commit_callbacks(execute=True) as queued:
        response = post(client, draft, csv_upload(rows))
    convoy = last_convoy()
    assert response.status_code == 302
    assert response["Location"] == reverse("declarations:convoy", args=[firm_a.organisation.pk, convoy.pk])
    assert len(queued) == 1  # handed to the worker after the commit, not done in the request
    assert (convoy.status, convoy.rows_total, convoy.rows_done, convoy.created_count, convoy.errors) == (
        "done",
        500,
        500,
        500,
        [],
    )
    created = Declaration.objects.filter(copied_from=draft).select_related("vehicle")
    assert Declaration.objects.count() == before + 500
    plates = {row[0]: row for row in rows}
    for declaration in created:
        row = plates[declaration.vehicle.plate]
        item = declaration.goods.get()
        assert (declaration.driver_id, item.gross_kg, item.net_kg) == (
            firm_a.driver.driver.pk,
            Decimal(row[2]),
            Decimal(row[3]),
        )
        assert (declaration.status, declaration.declarant_id, declaration.port_id) == (
            "draft",
            firm_a.declarant.pk,
            draft.port_id,
        )
        assert declaration.planned_arrival == draft.planned_arrival  # blank in the file
    assert len({d.vehicle_id for d in created}) == 500
    assert len({d.reference for d in created}) == 500
    assert DeclarationEvent.objects.filter(declaration__in=created, to_status="draft").count() == 500
    assert AuditEvent.objects.filter(action="convoy.filed", object_id=str(convoy.pk)).count() == 1


def test_one_bad_row_of_500_creates_nothing_and_names_the_row_and_column(
    client_as, firm_a, draft, django_capture_on_commit_callbacks
):
    rows = valid_rows(firm_a, 500)
    rows[315][2:4] = ["20000", "20001"]  # the 316th vehicle: row 317 of the sheet, under the header
    before = (Declaration.objects.count(), GoodsItem.objects.count(), DeclarationEvent.objects.count())
    client = client_as(firm_a.declarant)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, draft, csv_upload(rows))
    convoy = last_convoy()
    assert (convoy.status, convoy.rows_done, convoy.created_count) == ("failed", 500, 0)
    assert convoy.errors == [
        {"row": 317, "column": "net_kg", "message": "The net weight cannot be more than the gross weight."}
    ]
    assert (
        Declaration.objects.count(),
        GoodsItem.objects.count(),
        DeclarationEvent.objects.count(),
    ) == before
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "<td>317</td><td>net_kg</td>" in page.content.decode()
    assert 'http-equiv="refresh"' not in page.content.decode()


def test_every_bad_row_is_reported_not_only_the_first(client_as, firm_a, firm_b, draft):
    vehicles = fleet(firm_a, 3)
    rows = [
        [firm_b.vehicle.plate, licence(firm_a), "20500", "20000", ""],  # row 2: another firm's truck
        [vehicles[1].plate, licence(firm_b), "20500", "20000", ""],  # row 3: another firm's driver
        [vehicles[2].plate, licence(firm_a), "forty", "20000", "tomorrow"],  # row 4: two mistakes
        [vehicles[1].plate, licence(firm_a), "20500", "0", ""],  # row 5: the truck of row 3 again
        [vehicles[0].plate, "", "250000", "20000", ""],  # row 6: no driver, over 200 t
    ]
    before = Declaration.objects.count()
    post(client_as(firm_a.declarant), draft, csv_upload(rows))
    assert [(e["row"], e["column"]) for e in last_convoy().errors] == [
        (2, "plate"),
        (3, "driver"),
        (4, "planned_arrival"),
        (4, "gross_kg"),
        (5, "plate"),
        (5, "net_kg"),
        (6, "driver"),
        (6, "gross_kg"),
    ]
    messages = {(e["row"], e["column"]): e["message"] for e in last_convoy().errors}
    assert messages[(2, "plate")] == f"The firm has no vehicle with the plate {firm_b.vehicle.plate}."
    assert messages[(4, "gross_kg")] == "Enter a number."
    assert messages[(5, "plate")] == "This vehicle is already on row 3."
    assert messages[(6, "gross_kg")] == "Weights must be above zero and at most 200 tonnes."
    assert Declaration.objects.count() == before


def test_small_xlsx_is_filed_in_the_request(
    client_as, firm_a, draft, khorgos, django_capture_on_commit_callbacks
):
    vehicles = fleet(firm_a, 3)
    phone_as_number = int(firm_a.driver.phone.as_e164.lstrip("+"))  # what a spreadsheet makes of +7...
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Plate", "DRIVER", "Gross KG", "net-kg", "Planned arrival", "Note"])
    sheet.append(
        [vehicles[0].plate.lower(), phone_as_number, 41000, 40000.5, datetime(2026, 5, 1, 8, 0), "x"]
    )
    sheet.append([vehicles[1].plate, licence(firm_a), 21000, 20000, None, ""])
    sheet.append([None, None, None, None, None, None])  # a blank line is skipped
    sheet.append([vehicles[2].plate.replace(" ", "-"), firm_a.driver.phone.as_e164, "10500", "10000", None])
    data = io.BytesIO()
    book.save(data)
    client = client_as(firm_a.declarant)
    # Told by its content: the name says nothing.
    with django_capture_on_commit_callbacks() as queued:
        response = post(client, draft, SimpleUploadedFile("convoy.dat", data.getvalue()))
    convoy = last_convoy()
    assert queued == []
    assert (convoy.status, convoy.created_count, convoy.errors) == ("done", 3, [])
    first = Declaration.objects.get(copied_from=draft, vehicle=vehicles[0])
    item = first.goods.get()
    assert first.driver_id == firm_a.driver.driver.pk
    assert first.planned_arrival == datetime(2026, 5, 1, 8, 0, tzinfo=ZoneInfo(khorgos.time_zone))
    # Tonnes follow the net weight, the value follows it in proportion (5200 USD for 40 t).
    assert (item.gross_kg, item.net_kg, item.quantity, item.unit) == (
        Decimal("41000"),
        Decimal("40000.5"),
        Decimal("40.001"),
        "t",
    )
    assert item.value == Decimal("5200.07")
    assert (item.hs_code, item.currency, item.origin_country.code) == ("270112", "USD", "MN")
    page = client.get(response["Location"])
    assert "3 draft declarations created." in page.content.decode()


def test_semicolons_and_a_bom_as_excel_writes_them(client_as, firm_a, draft):
    rows = [[v.plate, licence(firm_a).lower(), "20500", "20000"] for v in fleet(firm_a, 2)]
    upload = csv_upload(rows, header=["PLATE", "Driver", "gross kg", "NET_KG"], delimiter=";", bom=True)
    post(client_as(firm_a.declarant), draft, upload)
    assert (last_convoy().status, last_convoy().created_count) == ("done", 2)


def test_empty_vehicles_take_no_weights(client_as, firm_a, khorgos):
    template = services.declaration_create(
        actor=firm_a.declarant,
        organisation=firm_a.organisation,
        port=khorgos,
        direction="export",
        mode="local",
        cargo_category=CargoCategory.EMPTY,
    )
    vehicles = fleet(firm_a, 2)
    client = client_as(firm_a.declarant)
    post(client, template, csv_upload([[vehicles[0].plate, licence(firm_a), "", "", ""]]))
    assert last_convoy().status == "done"
    assert Declaration.objects.get(copied_from=template).goods.count() == 0
    post(client, template, csv_upload([[vehicles[1].plate, licence(firm_a), "1000", "", ""]]))
    assert last_convoy().errors == [
        {
            "row": 2,
            "column": "gross_kg",
            "message": "An empty vehicle carries no goods: leave the weights blank.",
        }
    ]


def test_a_template_with_two_goods_items_is_refused(client_as, firm_a, draft):
    services.goods_add(actor=firm_a.declarant, declaration=draft, **{**GOODS, "hs_code": "270400"})
    client = client_as(firm_a.declarant)
    page = client.get(reverse("declarations:convoy_new", args=[draft.pk]))
    assert "exactly one goods item" in page.content.decode()
    response = post(
        client, draft, csv_upload([[firm_a.vehicle.plate, licence(firm_a), "20500", "20000", ""]])
    )
    assert response.status_code == 200
    assert not ConvoyImport.objects.exists()


def _zip_of_text():
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("notes.txt", "plate,driver,gross_kg,net_kg\n")
    return data.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"   \r\n", "The file is empty."),
        (b"plate,driver,gross_kg,net_kg\r\n", "The file has a header row but no vehicles."),
        (b"plate,driver,weight\r\n123 ABC 01,DL1,2\r\n", "Columns are missing: gross_kg, net_kg."),
        (b"plate,plate,driver,gross_kg,net_kg\r\nA,A,B,1,1\r\n", "The column plate appears twice."),
        (PNG, "This file is neither a CSV nor an XLSX spreadsheet"),
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64,
            "neither a CSV nor an XLSX",
        ),
        (b"PK\x03\x04 not really a zip", "neither a CSV nor an XLSX"),
        (_zip_of_text(), "neither a CSV nor an XLSX"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Old Excel files (.xls) cannot be read"),
        ("plate,driver,gross_kg,net_kg\r\nА 123 ВС,Ерлан,1,1\r\n".encode("cp1251"), "not in UTF-8"),
        (b"plate,driver,gross_kg,net_kg\r\n" + b"A,B,1,1\r\n" * 2001, "more than 2000 rows"),
        (
            b"plate,driver,gross_kg,net_kg\r\n" + b"A,B,1,1," + b"x" * (2 * 1024 * 1024) + b"\r\n",
            "larger than 2 MB",
        ),
    ],
    ids=[
        "blank",
        "header-only",
        "missing-columns",
        "duplicate-column",
        "png",
        "executable",
        "broken-zip",
        "zip-not-xlsx",
        "old-xls",
        "not-utf8",
        "too-many-rows",
        "too-large",
    ],
)
def test_a_file_that_cannot_be_read_is_refused_and_nothing_is_kept(
    client_as, firm_a, draft, content, message
):
    before = Declaration.objects.count()
    response = post(client_as(firm_a.declarant), draft, SimpleUploadedFile("convoy.csv", content))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert not ConvoyImport.objects.exists()
    assert Declaration.objects.count() == before


def test_a_zero_byte_file_is_refused_by_the_form(client_as, firm_a, draft):
    response = post(client_as(firm_a.declarant), draft, SimpleUploadedFile("convoy.csv", b""))
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ConvoyImport.objects.exists()


def test_the_sample_names_the_firms_vehicle_and_files_as_it_is(client_as, firm_a, draft):
    client = client_as(firm_a.declarant)
    response = client.get(reverse("declarations:convoy_sample", args=[draft.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffplate,driver,gross_kg,net_kg,planned_arrival\r\n")
    assert f"{firm_a.vehicle.plate},{licence(firm_a)},40500,40000," in text
    post(client, draft, SimpleUploadedFile("sample.csv", response.content))
    assert (last_convoy().status, last_convoy().created_count) == ("done", 1)


def test_who_may_file_a_convoy(client_as, personas, firm_a, draft):
    urls = [
        reverse("declarations:convoy_new", args=[draft.pk]),
        reverse("declarations:convoy_sample", args=[draft.pk]),
    ]
    for persona, want in [
        ("admin_a", 200),
        ("declarant_a", 200),
        ("dispatcher_a", 403),
        ("admin_b", 404),
        ("declarant_b", 404),
        ("driver_b", 404),
        ("anonymous", 302),
    ]:
        client = client_as(personas[persona])
        for url in urls:
            assert client.get(url).status_code == want, (persona, url)
        rows = [[firm_a.vehicle.plate, licence(firm_a), "20500", "20000", ""]]
        response = post(client, draft, csv_upload(rows))
        assert response.status_code == (302 if want == 200 else want), persona
    # One each for the admin and the declarant; the others' attempts left nothing behind.
    assert Declaration.objects.filter(copied_from=draft).count() == 2


def test_who_sees_the_progress_page(client_as, personas, firm_a, firm_b, draft):
    post(
        client_as(firm_a.declarant),
        draft,
        csv_upload([[firm_a.vehicle.plate, licence(firm_a), "1", "1", ""]]),
    )
    convoy = last_convoy()
    url = reverse("declarations:convoy", args=[firm_a.organisation.pk, convoy.pk])
    for persona, want in [
        ("admin_a", 200),
        ("declarant_a", 200),
        ("dispatcher_a", 403),
        ("driver_a", 403),
        ("admin_b", 404),
        ("declarant_b", 404),
        ("officer_x", 404),
        ("anonymous", 302),
    ]:
        assert client_as(personas[persona]).get(url).status_code == want, persona
    # Firm B's own address does not lead to firm A's convoy either.
    other = reverse("declarations:convoy", args=[firm_b.organisation.pk, convoy.pk])
    assert client_as(firm_b.admin).get(other).status_code == 404


def test_the_progress_page_refreshes_itself_while_the_convoy_runs(client_as, firm_a, draft):
    convoy = ConvoyImport.objects.create(
        organisation=firm_a.organisation,
        template=draft,
        created_by=firm_a.declarant,
        file=SimpleUploadedFile("c.csv", b"x"),
        status=ConvoyImport.State.RUNNING,
        rows_total=500,
        rows_done=150,
    )
    page = client_as(firm_a.declarant).get(
        reverse("declarations:convoy", args=[firm_a.organisation.pk, convoy.pk])
    )
    html = page.content.decode()
    assert '<meta http-equiv="refresh" content="2">' in html
    assert "Checking the rows: 150 of 500." in html


def test_a_convoy_is_filed_once_however_often_the_task_runs(client_as, firm_a, draft):
    post(client_as(firm_a.declarant), draft, csv_upload(valid_rows(firm_a, 2)))
    convoy = last_convoy()
    assert convoy.status == "done"
    convoy_process.delay(convoy.pk)
    assert Declaration.objects.filter(copied_from=draft).count() == 2
    assert convoy_process.name == "declarations.tasks.convoy_process"


def test_the_detail_page_offers_a_convoy_to_those_who_declare(client_as, firm_a, draft):
    url = reverse("declarations:detail", args=[draft.pk])
    link = reverse("declarations:convoy_new", args=[draft.pk])
    assert link in client_as(firm_a.declarant).get(url).content.decode()
    assert link not in client_as(firm_a.dispatcher).get(url).content.decode()


def test_a_failure_while_creating_rolls_back_every_draft(client_as, firm_a, draft, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "audit_log", broken)  # the last write, after every draft
    before = (Declaration.objects.count(), GoodsItem.objects.count(), DeclarationEvent.objects.count())
    with pytest.raises(RuntimeError):
        post(client_as(firm_a.declarant), draft, csv_upload(valid_rows(firm_a, 3)))
    assert (
        Declaration.objects.count(),
        GoodsItem.objects.count(),
        DeclarationEvent.objects.count(),
    ) == before
    assert (last_convoy().status, last_convoy().created_count) == ("failed", 0)
    assert last_convoy().errors[0]["message"].startswith("Something went wrong: nothing was created.")


def test_a_convoy_that_cannot_be_queued_says_so(
    client_as, firm_a, draft, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    def broker_down(*args):
        raise OperationalError("connection refused")

    monkeypatch.setattr(convoy_process, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        post(
            client_as(firm_a.declarant),
            draft,
            csv_upload(valid_rows(firm_a, services.CONVOY_INLINE_ROWS + 1)),
        )
    assert last_convoy().status == "failed"
    assert last_convoy().errors == [
        {
            "row": None,
            "column": "",
            "message": "The file could not be queued. Upload it again in a few minutes.",
        }
    ]
