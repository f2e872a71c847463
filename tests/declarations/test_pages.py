"""Declaration pages and document downloads for every persona; query counts of lists."""

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.urls import reverse

from declarations import services
from declarations.models import Declaration
from tests.conftest import PERSONA_NAMES as PERSONAS
from tests.declarations.conftest import GOODS, PDF, upload

pytestmark = pytest.mark.django_db

SEE = {"admin_a", "declarant_a", "dispatcher_a", "driver_a", "officer_x"}
WRITE = {"admin_a", "declarant_a"}


def expected(persona, allowed, ok=200):
    if persona == "anonymous":
        return "login"
    if persona in allowed:
        return ok
    if persona in SEE:
        return 403
    return 404


def pages(d):
    doc = d.documents.first()
    return [
        ("detail", reverse("declarations:detail", args=[d.pk]), SEE),
        ("document", reverse("declarations:document", args=[d.pk, doc.pk]), SEE),
        ("edit", reverse("declarations:edit", args=[d.pk]), WRITE),
        ("goods", reverse("declarations:goods", args=[d.pk]), WRITE),
        ("documents", reverse("declarations:documents", args=[d.pk]), WRITE),
        ("review", reverse("declarations:review", args=[d.pk]), WRITE),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_declaration_pages_and_downloads(personas, draft, client_as, persona):
    client = client_as(personas[persona])
    for name, url, allowed in pages(draft):
        response = client.get(url)
        if response.streaming:  # read the download to the end: the test client then closes the file
            assert b"".join(response.streaming_content).startswith(b"%PDF")
        want = expected(persona, allowed)
        if want == "login":
            assert response.status_code == 302, name
        else:
            assert response.status_code == want, (name, persona)


@pytest.mark.parametrize("persona", PERSONAS)
def test_changing_actions(personas, draft, client_as, firm_a, persona):
    client = client_as(personas[persona])
    item = draft.goods.first()
    before = (draft.goods.count(), Declaration.objects.count(), Declaration.objects.get(pk=draft.pk).status)
    posts = [
        (reverse("declarations:goods", args=[draft.pk]), {**GOODS, "hs_code": "270400"}),
        (reverse("declarations:goods_delete", args=[draft.pk, item.pk]), {}),
        (reverse("declarations:copy", args=[draft.pk]), {}),
        (reverse("declarations:withdraw", args=[draft.pk]), {}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        want = expected(persona, WRITE, ok=302)
        assert response.status_code == (302 if want == "login" else want), (url, persona)
    if persona not in WRITE:
        assert (
            draft.goods.count(),
            Declaration.objects.count(),
            Declaration.objects.get(pk=draft.pk).status,
        ) == before


def test_firm_list_is_for_members_only(personas, draft, client_as, firm_a):
    url = reverse("declarations:list", args=[firm_a.organisation.pk])
    assert client_as(personas["dispatcher_a"]).get(url).status_code == 200
    assert client_as(personas["driver_a"]).get(url).status_code == 403
    assert client_as(personas["admin_b"]).get(url).status_code == 404


def test_list_page_query_count_does_not_grow(client, firm_a, khorgos, django_assert_max_num_queries):
    for _ in range(15):
        d = services.declaration_create(
            actor=firm_a.declarant,
            organisation=firm_a.organisation,
            port=khorgos,
            direction="import",
            mode="local",
            cargo_category="energy",
            vehicle=firm_a.vehicle,
        )
        services.goods_add(actor=firm_a.declarant, declaration=d, **GOODS)
    client.force_login(firm_a.declarant)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("declarations:list", args=[firm_a.organisation.pk])).status_code == 200


def test_admin_review_queue_shows_only_the_officers_port_with_fixed_queries(
    client, draft, firm_a, officer_x, officer_y, django_assert_max_num_queries
):
    services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=99)
    for extra in range(10):
        d = services.declaration_copy(actor=firm_a.declarant, declaration=draft)
        services.document_add(
            actor=firm_a.declarant, declaration=d, kind="invoice", upload=upload(content=PDF)
        )
    url = reverse("admin:declarations_declaration_changelist")
    TOTP.activate(officer_x, pyotp.random_base32())
    client.force_login(officer_x)
    with django_assert_max_num_queries(25):
        response = client.get(url)
    assert response.status_code == 200
    assert next(iter(response.context["cl"].result_list)).reference == draft.reference  # awaiting first
    TOTP.activate(officer_y, pyotp.random_base32())
    client.force_login(officer_y)
    assert list(client.get(url).context["cl"].result_list) == []
    assert client.get(reverse("admin:declarations_declaration_change", args=[draft.pk])).status_code == 302


def test_officer_asks_for_changes_with_a_reason_in_the_admin(client, draft, firm_a, officer_x):
    services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=99)
    TOTP.activate(officer_x, pyotp.random_base32())
    client.force_login(officer_x)
    url = reverse("admin:declarations_declaration_changelist")
    page = client.post(url, {"action": "request_changes", "_selected_action": [draft.pk]})
    assert page.status_code == 200 and "reason" in page.content.decode()
    assert Declaration.objects.get(pk=draft.pk).status == "submitted"
    client.post(
        url,
        {
            "action": "request_changes",
            "_selected_action": [draft.pk],
            "apply": "1",
            "reason": "The invoice is unreadable.",
        },
    )
    declaration = Declaration.objects.get(pk=draft.pk)
    assert declaration.status == "changes_requested"
    assert declaration.events.last().comment == "The invoice is unreadable."
    client.force_login(firm_a.declarant)
    assert (
        "The invoice is unreadable."
        in client.get(reverse("declarations:detail", args=[draft.pk])).content.decode()
    )
