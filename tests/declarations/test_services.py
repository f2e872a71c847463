"""The status machine, the risk rules, the validations and hostile uploads."""

import pytest
from django.core.exceptions import PermissionDenied

from declarations import services
from declarations.models import Declaration, DeclarationEvent, GoodsItem, PortPolicy, RiskRule, Status
from portal.errors import ApplicationError
from tests.declarations.conftest import GOODS, JPEG, PDF, PNG, upload

pytestmark = pytest.mark.django_db
S = Status


def test_reference_is_port_year_and_sequence(draft, firm_a, khorgos):
    second = services.declaration_copy(actor=firm_a.declarant, declaration=draft)
    year = draft.created_at.year
    assert (draft.reference, second.reference) == (f"KHG-{year}-000001", f"KHG-{year}-000002")
    assert list(second.goods.values_list("hs_code", flat=True)) == ["270112"]
    assert second.documents.count() == 0


def submit(draft, firm_a, draw=99.0):
    return services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=draw)


def test_submission_assigns_channel_reasons_and_service_clock(draft, firm_a):
    declaration = submit(draft, firm_a)
    assert declaration.status == S.SUBMITTED
    assert declaration.channel == "yellow"  # a new firm: its first declarations are checked
    assert declaration.channel_reasons == [
        "One of the firm's first declarations",
        "Energy cargo: priority lane",
    ]
    assert declaration.priority is True
    assert declaration.review_due_at is not None
    assert [e.to_status for e in declaration.events.all()] == [S.DRAFT, S.SUBMITTED]


def officer_of(firm, port_code="KHG"):
    from portal import roles
    from tests.factories import officer

    return officer(roles.CUSTOMS_OFFICER, [port_code])


LEGAL = [
    ("submit", S.DRAFT, S.SUBMITTED),
    ("withdraw", S.DRAFT, S.WITHDRAWN),
    ("start", S.SUBMITTED, S.UNDER_REVIEW),
    ("accept", S.SUBMITTED, S.ACCEPTED),
    ("accept", S.UNDER_REVIEW, S.ACCEPTED),
    ("changes", S.SUBMITTED, S.CHANGES_REQUESTED),
    ("changes", S.UNDER_REVIEW, S.CHANGES_REQUESTED),
    ("reject", S.SUBMITTED, S.REJECTED),
    ("reject", S.UNDER_REVIEW, S.REJECTED),
    ("withdraw", S.SUBMITTED, S.WITHDRAWN),
    ("withdraw", S.UNDER_REVIEW, S.WITHDRAWN),
    ("withdraw", S.CHANGES_REQUESTED, S.WITHDRAWN),
    ("submit", S.CHANGES_REQUESTED, S.SUBMITTED),
    ("release", S.ACCEPTED, S.RELEASED),
]
ACTIONS = ["submit", "withdraw", "start", "accept", "changes", "reject", "release"]


def act(action, declaration, firm, officer):
    calls = {
        "submit": lambda: services.declaration_submit(
            actor=firm.declarant, declaration=declaration, sample_draw=99
        ),
        "withdraw": lambda: services.declaration_withdraw(actor=firm.declarant, declaration=declaration),
        "start": lambda: services.declaration_review_start(officer=officer, declaration=declaration),
        "accept": lambda: services.declaration_accept(officer=officer, declaration=declaration),
        "changes": lambda: services.declaration_request_changes(
            officer=officer, declaration=declaration, reason="Fix"
        ),
        "reject": lambda: services.declaration_reject(officer=officer, declaration=declaration, reason="No"),
        "release": lambda: services.declaration_release(actor=officer, declaration=declaration),
    }
    return calls[action]()


@pytest.mark.parametrize("source", list(Status.values))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition_legal_or_refused(draft, firm_a, source, action):
    officer = officer_of(firm_a)
    Declaration.objects.filter(pk=draft.pk).update(status=source)
    draft.refresh_from_db()
    events_before = DeclarationEvent.objects.count()
    legal = {(a, s): t for a, s, t in LEGAL}
    if (action, source) in legal:
        result = act(action, draft, firm_a, officer)
        assert result.status == legal[(action, source)]
        assert DeclarationEvent.objects.count() == events_before + 1
        event = DeclarationEvent.objects.order_by("-id").first()
        assert (event.from_status, event.to_status) == (source, legal[(action, source)])
    else:
        with pytest.raises(ApplicationError) as exc:
            act(action, draft, firm_a, officer)
        assert exc.value.code == "transition_not_allowed"
        draft.refresh_from_db()
        assert draft.status == source
        assert DeclarationEvent.objects.count() == events_before


def test_a_double_submit_changes_nothing_the_second_time(draft, firm_a):
    submit(draft, firm_a)
    with pytest.raises(ApplicationError):
        submit(Declaration.objects.get(pk=draft.pk), firm_a)
    assert Declaration.objects.get(pk=draft.pk).events.filter(to_status=S.SUBMITTED).count() == 1


def test_reasons_are_required_to_ask_for_changes_or_reject(draft, firm_a):
    officer = officer_of(firm_a)
    submit(draft, firm_a)
    for service in (services.declaration_request_changes, services.declaration_reject):
        with pytest.raises(ApplicationError, match="reason"):
            service(officer=officer, declaration=draft, reason="  ")
    assert Declaration.objects.get(pk=draft.pk).status == S.SUBMITTED


def test_officer_of_another_port_cannot_decide(draft, firm_a):
    submit(draft, firm_a)
    with pytest.raises(PermissionDenied):
        services.declaration_accept(officer=officer_of(firm_a, "TKS"), declaration=draft)


def test_dispatcher_cannot_declare(firm_a, khorgos):
    with pytest.raises(PermissionDenied):
        services.declaration_create(
            actor=firm_a.dispatcher,
            organisation=firm_a.organisation,
            port=khorgos,
            direction="import",
            mode="local",
            cargo_category="general",
        )


def test_vehicle_or_driver_of_another_firm_is_refused(firm_a, firm_b, khorgos):
    with pytest.raises(ApplicationError, match="vehicle"):
        services.declaration_create(
            actor=firm_a.declarant,
            organisation=firm_a.organisation,
            port=khorgos,
            direction="import",
            mode="local",
            cargo_category="general",
            vehicle=firm_b.vehicle,
        )
    with pytest.raises(ApplicationError, match="driver"):
        services.declaration_create(
            actor=firm_a.declarant,
            organisation=firm_a.organisation,
            port=khorgos,
            direction="import",
            mode="local",
            cargo_category="general",
            driver=firm_b.driver.driver,
        )
    assert Declaration.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"hs_code": "12345"}, "invalid_hs_code"),
        ({"hs_code": "990000"}, "invalid_hs_code"),
        ({"hs_code": "270199999999"}, "invalid_hs_code"),
        ({"net_kg": "41000"}, "net_above_gross"),
        ({"quantity": "-3"}, "invalid_quantity"),
        ({"quantity": "0"}, "invalid_quantity"),
        ({"gross_kg": "9999999", "net_kg": "1"}, "invalid_weight"),
        ({"quantity": "abc"}, "invalid_number"),
        ({"value": "NaN"}, "invalid_number"),
        ({"currency": "XXY"}, "invalid_currency"),
        ({"origin_country": "QQ"}, "invalid_country"),
        ({"description": "   "}, "description_required"),
    ],
)
def test_bad_goods_are_refused_and_change_nothing(draft, firm_a, change, code):
    with pytest.raises(ApplicationError) as exc:
        services.goods_add(actor=firm_a.declarant, declaration=draft, **{**GOODS, **change})
    assert exc.value.code == code
    assert GoodsItem.objects.filter(declaration=draft).count() == 1


def test_an_empty_vehicle_has_no_goods(firm_a, khorgos):
    declaration = services.declaration_create(
        actor=firm_a.declarant,
        organisation=firm_a.organisation,
        port=khorgos,
        direction="export",
        mode="local",
        cargo_category="empty",
    )
    with pytest.raises(ApplicationError):
        services.goods_add(actor=firm_a.declarant, declaration=declaration, **GOODS)


@pytest.mark.parametrize(
    ("name", "content", "ok"),
    [
        ("scan.pdf", PDF, True),
        ("photo.jpg", JPEG, True),
        ("IMG_0001.PNG", PNG, True),
        ("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 200, False),  # a Windows executable renamed
        ("invoice.pdf", b"#!/bin/sh\nrm -rf /\n", False),
        ("empty.pdf", b"", False),
    ],
)
def test_documents_are_checked_by_content_not_name(draft, firm_a, name, content, ok):
    before = draft.documents.count()
    if ok:
        document = services.document_add(
            actor=firm_a.declarant, declaration=draft, kind="other", upload=upload(name, content)
        )
        assert document.content_type in {"application/pdf", "image/jpeg", "image/png"}
        assert name not in document.file.name  # stored under a name of our own
    else:
        with pytest.raises(ApplicationError):
            services.document_add(
                actor=firm_a.declarant, declaration=draft, kind="other", upload=upload(name, content)
            )
        assert draft.documents.count() == before


def test_an_oversized_file_is_refused(draft, firm_a):
    big = upload("big.pdf", PDF + b"0" * (10 * 1024 * 1024))
    with pytest.raises(ApplicationError, match="10 MB"):
        services.document_add(actor=firm_a.declarant, declaration=draft, kind="other", upload=big)


def test_nothing_is_editable_after_submission(draft, firm_a):
    submit(draft, firm_a)
    draft.refresh_from_db()
    with pytest.raises(ApplicationError, match="edited"):
        services.goods_add(actor=firm_a.declarant, declaration=draft, **GOODS)
    with pytest.raises(ApplicationError, match="edited"):
        services.document_add(actor=firm_a.declarant, declaration=draft, kind="other", upload=upload())


RULE_CASES = [
    # (cargo, hs code, origin, documents, firm accepted before, expected channel, expected reasons)
    (
        "agricultural",
        "070200",
        "KZ",
        {"invoice", "cmr", "phytosanitary"},
        5,
        "green",
        ["Agricultural produce: green channel, 30-minute review"],
    ),
    ("energy", "270112", "MN", {"invoice", "cmr"}, 5, "green", ["Energy cargo: priority lane"]),
    ("dangerous", "281000", "CN", {"invoice", "cmr"}, 5, "red", ["Dangerous goods"]),
    ("general", "930190", "CN", {"invoice", "cmr"}, 5, "red", ["Arms and ammunition (HS chapter 93)"]),
    ("general", "847130", "CN", {"invoice"}, 5, "yellow", ["Required documents are missing"]),
    ("general", "847130", "CN", {"invoice", "cmr"}, 0, "yellow", ["One of the firm's first declarations"]),
    ("general", "847130", "CN", {"invoice", "cmr"}, 5, "green", []),
    (
        "agricultural",
        "070200",
        "KZ",
        {"invoice", "cmr"},
        5,
        "yellow",
        ["Required documents are missing", "Agricultural produce: green channel, 30-minute review"],
    ),
]


@pytest.mark.parametrize(("cargo", "hs", "origin", "documents", "accepted", "channel", "reasons"), RULE_CASES)
def test_risk_rules(firm_a, khorgos, cargo, hs, origin, documents, accepted, channel, reasons):
    from django.utils import timezone

    for n in range(accepted):
        old = services.declaration_create(
            actor=firm_a.declarant,
            organisation=firm_a.organisation,
            port=khorgos,
            direction="import",
            mode="local",
            cargo_category="general",
        )
        Declaration.objects.filter(pk=old.pk).update(status=S.ACCEPTED)
    declaration = services.declaration_create(
        actor=firm_a.declarant,
        organisation=firm_a.organisation,
        port=khorgos,
        direction="import",
        mode="local",
        cargo_category=cargo,
        vehicle=firm_a.vehicle,
        driver=firm_a.driver.driver,
        planned_arrival=timezone.now() + timezone.timedelta(hours=5),
    )
    services.goods_add(
        actor=firm_a.declarant, declaration=declaration, **{**GOODS, "hs_code": hs, "origin_country": origin}
    )
    for kind in documents:
        services.document_add(actor=firm_a.declarant, declaration=declaration, kind=kind, upload=upload())
    declaration = services.declaration_submit(actor=firm_a.declarant, declaration=declaration, sample_draw=99)
    assert (declaration.channel, declaration.channel_reasons) == (channel, reasons)
    if cargo == "agricultural":
        assert declaration.review_target_minutes == 30


def test_the_random_sample_sends_a_green_declaration_to_yellow(draft, firm_a):
    PortPolicy.objects.filter(port=draft.port).update(random_sample_percent=2)
    RiskRule.objects.filter(name="New firm").update(active=False)
    declaration = services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=1.5)
    assert (declaration.channel, declaration.channel_reasons[-1]) == ("yellow", "Random sample")


def test_green_verified_complete_is_accepted_automatically_where_the_port_allows(draft, firm_a, officer_x):
    from portal import services as portal_services

    portal_services.organisation_verify(officer=officer_x, organisation=firm_a.organisation)
    RiskRule.objects.filter(name="New firm").update(active=False)
    PortPolicy.objects.filter(port=draft.port).update(auto_accept_green=True)
    declaration = services.declaration_submit(actor=firm_a.declarant, declaration=draft, sample_draw=99)
    assert declaration.status == S.ACCEPTED
    assert declaration.events.last().actor is None


def test_acceptance_tells_the_declarant_and_the_driver(
    draft, firm_a, sms_outbox, django_capture_on_commit_callbacks
):
    from notifications.models import Notification

    officer = officer_of(firm_a)
    submit(draft, firm_a)
    with django_capture_on_commit_callbacks(execute=True):
        services.declaration_accept(officer=officer, declaration=draft)
    told = set(
        Notification.objects.filter(event="declaration.accepted").values_list("recipient_id", flat=True)
    )
    assert {firm_a.declarant.pk, firm_a.driver.pk} <= told
    assert any(draft.reference in m.body and m.to == firm_a.driver.phone.as_e164 for m in sms_outbox)
