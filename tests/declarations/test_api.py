"""The declarations API: a whole filing by API, bad input, and every endpoint for every persona."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from declarations.models import Declaration, DeclarationEvent, Document, GoodsItem, PortPolicy, Status
from tests.conftest import PERSONA_NAMES as PERSONAS
from tests.declarations.conftest import GOODS, JPEG, PDF

pytestmark = pytest.mark.django_db

SEE = {"admin_a", "declarant_a", "dispatcher_a", "driver_a", "officer_x"}
# The firm's own lists: its members and its drivers (who are not members) reach them.
FIRM = {"admin_a", "declarant_a", "dispatcher_a", "driver_a"}
WRITE = {"admin_a", "declarant_a"}


def expected(persona, allowed, ok, see=SEE):
    if persona == "anonymous":
        return 401
    if persona in allowed:
        return ok
    if persona in see:
        return 403
    return 404


def _header(firm, **changes):
    return {
        "port": "KHG",
        "direction": "import",
        "mode": "local",
        "cargo_category": "energy",
        "vehicle": firm.vehicle.pk,
        "driver": firm.driver.driver.pk,
        "planned_arrival": "2030-05-01T10:00:00+08:00",
        **changes,
    }


def _file(name, content):
    return SimpleUploadedFile(name, content)


@pytest.fixture(autouse=True)
def _no_random_sample(db):
    PortPolicy.objects.update_or_create(port_id=_khg(), defaults={"random_sample_percent": 0})


def _khg():
    from portal.models import Port

    return Port.objects.get(code="KHG").pk


def test_file_a_declaration_by_api_from_draft_to_history(api_as, firm_a):
    api = api_as(firm_a.declarant)
    created = api.post(
        reverse("api:declarations", args=[firm_a.organisation.pk]), _header(firm_a), format="json"
    )
    assert created.status_code == 201, created.data
    body = created.data
    assert body["reference"].startswith("KHG-")
    assert (body["status"], body["port"], body["vehicle"]) == ("draft", "KHG", firm_a.vehicle.pk)
    pk = body["id"]
    assert "Add at least one goods item." in body["problems"]

    for item in (GOODS, {**GOODS, "hs_code": "2701.19", "description": "Thermal coal", "net_kg": 40100}):
        response = api.post(reverse("api:declaration_goods", args=[pk]), item, format="json")
        assert response.status_code == 201, response.data
    assert [g["hs_code"] for g in api.get(reverse("api:declaration_goods", args=[pk])).data] == [
        "270112",
        "270119",
    ]

    for kind, name, content in (("invoice", "invoice.pdf", PDF), ("cmr", "IMG_0001.jpg", JPEG)):
        response = api.post(
            reverse("api:declaration_documents", args=[pk]),
            {"kind": kind, "file": _file(name, content)},
            format="multipart",
        )
        assert response.status_code == 201, response.data
    cmr = Document.objects.get(declaration_id=pk, kind="cmr")
    assert cmr.content_type == "image/jpeg"
    download = api.get(response.data["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == JPEG

    submitted = api.post(reverse("api:declaration_submit", args=[pk]))
    assert submitted.status_code == 200, submitted.data
    assert submitted.data["status"] == "submitted"
    assert submitted.data["channel"] in {"green", "yellow", "red"}
    assert submitted.data["channel_reasons"]
    assert submitted.data["review_due_at"] is not None

    withdrawn = api.post(reverse("api:declaration_withdraw", args=[pk]), {"comment": "Truck broke down"})
    assert withdrawn.data["status"] == "withdrawn"
    history = api.get(reverse("api:declaration_history", args=[pk])).data
    assert [(e["from_status"], e["to_status"]) for e in history] == [
        ("", "draft"),
        ("draft", "submitted"),
        ("submitted", "withdrawn"),
    ]
    assert history[-1]["comment"] == "Truck broke down"
    assert history[-1]["actor"] == firm_a.declarant.display_name


def test_update_header_and_goods_then_copy(api_as, firm_a, draft):
    api = api_as(firm_a.declarant)
    response = api.put(
        reverse("api:declaration", args=[draft.pk]), _header(firm_a, direction="export"), format="json"
    )
    assert response.status_code == 200, response.data
    assert response.data["direction"] == "export"
    item = draft.goods.get()
    response = api.put(
        reverse("api:declaration_goods_item", args=[draft.pk, item.pk]),
        {**GOODS, "quantity": "39.5"},
        format="json",
    )
    assert response.data["quantity"] == "39.500"
    copy = api.post(reverse("api:declaration_copy", args=[draft.pk]))
    assert copy.status_code == 201
    assert copy.data["copied_from"] == draft.pk
    assert [g["hs_code"] for g in copy.data["goods"]] == ["270112"]
    assert copy.data["documents"] == []


def _state(declaration):
    declaration.refresh_from_db()
    return (
        declaration.status,
        declaration.direction,
        declaration.vehicle_id,
        GoodsItem.objects.filter(declaration=declaration).count(),
        Document.objects.filter(declaration=declaration).count(),
        DeclarationEvent.objects.filter(declaration=declaration).count(),
        Declaration.objects.count(),
    )


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("hs_code", "999999", "invalid_hs_code"),
        ("hs_code", "27", "invalid_hs_code"),
        ("net_kg", "50000", "net_above_gross"),
        ("quantity", "-1", "invalid_quantity"),
        ("gross_kg", "9000000", "invalid_weight"),
        ("currency", "XYZ", "invalid_currency"),
        ("origin_country", "QQ", "invalid_country"),
    ],
)
def test_bad_goods_get_a_clear_error_and_change_nothing(api_as, firm_a, draft, field, value, code):
    before = _state(draft)
    response = api_as(firm_a.declarant).post(
        reverse("api:declaration_goods", args=[draft.pk]), {**GOODS, field: value}, format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == code
    assert response.data["extra"]["field"] == field
    assert response.data["message"]
    assert _state(draft) == before


def test_errors_come_in_the_users_language(api_as, firm_a, draft):
    firm_a.declarant.language = "ru"
    firm_a.declarant.save()
    response = api_as(firm_a.declarant).post(
        reverse("api:declaration_goods", args=[draft.pk]), {**GOODS, "net_kg": "50000"}, format="json"
    )
    assert response.data["message"] == "Вес нетто не может превышать вес брутто."


def test_a_vehicle_or_driver_of_another_firm_is_refused(api_as, firm_a, firm_b, draft):
    api = api_as(firm_a.declarant)
    url = reverse("api:declarations", args=[firm_a.organisation.pk])
    for changes, field in (
        ({"vehicle": firm_b.vehicle.pk}, "vehicle"),
        ({"driver": firm_b.driver.driver.pk}, "driver"),
    ):
        count = Declaration.objects.count()
        response = api.post(url, _header(firm_a, **changes), format="json")
        assert response.status_code == 400
        assert field in response.data["extra"]["fields"]
        assert Declaration.objects.count() == count
        before = _state(draft)
        response = api.put(
            reverse("api:declaration", args=[draft.pk]), _header(firm_a, **changes), format="json"
        )
        assert response.status_code == 400
        assert _state(draft) == before


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("invoice.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200, "file_type"),
        ("invoice.pdf", b"#!/bin/sh\nrm -rf /\n", "file_type"),
        ("photo.jpg", b"<html><script>alert(1)</script></html>", "file_type"),
    ],
)
def test_hostile_uploads_are_refused(api_as, firm_a, draft, name, content, code):
    before = _state(draft)
    response = api_as(firm_a.declarant).post(
        reverse("api:declaration_documents", args=[draft.pk]),
        {"kind": "invoice", "file": _file(name, content)},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.data["code"] == code
    assert _state(draft) == before


def test_empty_and_oversized_uploads_are_refused(api_as, firm_a, draft):
    api = api_as(firm_a.declarant)
    url = reverse("api:declaration_documents", args=[draft.pk])
    before = _state(draft)
    empty = api.post(url, {"kind": "invoice", "file": _file("a.pdf", b"")}, format="multipart")
    assert empty.status_code == 400
    assert "file" in empty.data["extra"]["fields"]
    big = PDF + b"0" * (10 * 1024 * 1024)
    too_big = api.post(url, {"kind": "invoice", "file": _file("a.pdf", big)}, format="multipart")
    assert too_big.status_code == 400
    assert too_big.data["code"] == "file_too_large"
    assert _state(draft) == before


def test_double_submit_and_edits_after_submission_are_refused(api_as, firm_a, draft):
    api = api_as(firm_a.declarant)
    assert api.post(reverse("api:declaration_submit", args=[draft.pk])).status_code == 200
    before = _state(draft)
    again = api.post(reverse("api:declaration_submit", args=[draft.pk]))
    assert (again.status_code, again.data["code"]) == (400, "transition_not_allowed")
    edit = api.put(reverse("api:declaration", args=[draft.pk]), _header(firm_a), format="json")
    assert (edit.status_code, edit.data["code"]) == (400, "not_editable")
    goods = api.post(reverse("api:declaration_goods", args=[draft.pk]), GOODS, format="json")
    assert (goods.status_code, goods.data["code"]) == (400, "not_editable")
    assert _state(draft) == before


def test_an_incomplete_draft_cannot_be_submitted(api_as, firm_a):
    api = api_as(firm_a.declarant)
    created = api.post(
        reverse("api:declarations", args=[firm_a.organisation.pk]),
        _header(firm_a, vehicle=None, planned_arrival=None),
        format="json",
    )
    response = api.post(reverse("api:declaration_submit", args=[created.data["id"]]))
    assert (response.status_code, response.data["code"]) == (400, "incomplete")
    assert response.data["extra"]["problems"] == [
        "Choose the vehicle.",
        "Give the planned arrival.",
        "Add at least one goods item.",
    ]
    assert Declaration.objects.get(pk=created.data["id"]).status == Status.DRAFT


def _endpoints(d):
    item, document = d.goods.first(), d.documents.first()
    firm = d.organisation_id
    return [
        ("get", reverse("api:declarations", args=[firm]), None, FIRM - {"driver_a"}, 200, FIRM),
        ("post", reverse("api:declarations", args=[firm]), "header", WRITE, 201, FIRM),
        ("get", reverse("api:declaration", args=[d.pk]), None, SEE, 200),
        ("put", reverse("api:declaration", args=[d.pk]), "header", WRITE, 200),
        ("get", reverse("api:declaration_goods", args=[d.pk]), None, SEE, 200),
        ("post", reverse("api:declaration_goods", args=[d.pk]), GOODS, WRITE, 201),
        ("put", reverse("api:declaration_goods_item", args=[d.pk, item.pk]), GOODS, WRITE, 200),
        ("get", reverse("api:declaration_documents", args=[d.pk]), None, SEE, 200),
        ("get", reverse("api:declaration_document_file", args=[d.pk, document.pk]), None, SEE, 200),
        ("get", reverse("api:declaration_history", args=[d.pk]), None, SEE, 200),
        ("post", reverse("api:declaration_copy", args=[d.pk]), None, WRITE, 201),
        ("delete", reverse("api:declaration_document", args=[d.pk, document.pk]), None, WRITE, 204),
        ("delete", reverse("api:declaration_goods_item", args=[d.pk, item.pk]), None, WRITE, 204),
        ("post", reverse("api:declaration_withdraw", args=[d.pk]), None, WRITE, 200),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_endpoint_for_every_persona(personas, api_as, firm_a, draft, persona):
    """Who may see but not change gets 403, outsiders 404; nothing changes for either."""
    api = api_as(personas[persona])
    before = _state(draft)
    for method, url, data, allowed, ok, *see in _endpoints(draft):
        if data == "header":
            data = _header(firm_a)
        response = getattr(api, method)(url, data, format="json")
        if response.streaming:
            b"".join(response.streaming_content)
        want = expected(persona, allowed, ok, *see)
        assert response.status_code == want, (method, url, persona, response.data)
    if persona not in WRITE:
        assert _state(draft) == before


def test_the_list_runs_a_fixed_number_of_queries(api_as, firm_a, draft, django_assert_max_num_queries):
    api = api_as(firm_a.declarant)
    url = reverse("api:declarations", args=[firm_a.organisation.pk])
    with django_assert_max_num_queries(8) as few:
        assert len(api.get(url).data) == 1
        first = len(few)
    for _ in range(12):
        api.post(reverse("api:declaration_copy", args=[draft.pk]))
    with django_assert_max_num_queries(first):
        assert len(api.get(url).data) == 13


def test_the_list_filters_by_status(api_as, firm_a, draft):
    api = api_as(firm_a.declarant)
    api.post(reverse("api:declaration_submit", args=[draft.pk]))
    api.post(reverse("api:declaration_copy", args=[draft.pk]))
    url = reverse("api:declarations", args=[firm_a.organisation.pk])
    assert [d["status"] for d in api.get(url, {"status": "draft"}).data] == ["draft"]
    assert len(api.get(url, {"status": "nonsense"}).data) == 2


@pytest.mark.parametrize("pk", [0, 2**63 - 1, 2**63, 10**30])
def test_an_id_that_names_no_declaration_is_404_even_beyond_the_database_range(api_as, firm_a, pk):
    api = api_as(firm_a.declarant)
    assert api.get(reverse("api:declaration", args=[pk])).status_code == 404
    booking = api.post(reverse("api:bookings"), {"declaration": pk, "slot": 1}, format="json")
    assert booking.status_code == 404
