"""Every write of declarations. Each transition is a conditional update (so a double
submit or two officers deciding at once change the row once) and one DeclarationEvent."""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from declarations import risk
from declarations.models import (
    AWAITING_DECISION,
    EDITABLE,
    CargoCategory,
    Declaration,
    DeclarationEvent,
    Document,
    DocumentKind,
    GoodsItem,
    PortPolicy,
    ReferenceCounter,
    RiskChannel,
    Status,
    Unit,
)
from declarations.validation import (
    ALLOWED_TYPES,
    MAX_DOCUMENT_BYTES,
    MAX_QUANTITY,
    MAX_WEIGHT_KG,
    currency_is_known,
    hs_code_problem,
    sniff,
)
from notifications.services import notify
from portal.errors import ApplicationError
from portal.models import Driver, Membership, Organisation, Port, Role, Vehicle
from portal.permissions import firm_require

# (from, to) pairs; anything else is refused and changes nothing.
TRANSITIONS = {
    (Status.DRAFT, Status.SUBMITTED),
    (Status.CHANGES_REQUESTED, Status.SUBMITTED),
    (Status.SUBMITTED, Status.UNDER_REVIEW),
    *((s, Status.ACCEPTED) for s in AWAITING_DECISION),
    *((s, Status.CHANGES_REQUESTED) for s in AWAITING_DECISION),
    *((s, Status.REJECTED) for s in AWAITING_DECISION),
    *(
        (s, Status.WITHDRAWN)
        for s in (Status.DRAFT, Status.SUBMITTED, Status.UNDER_REVIEW, Status.CHANGES_REQUESTED)
    ),
    (Status.ACCEPTED, Status.RELEASED),
}


def _not_allowed(declaration: Declaration, to: str) -> ApplicationError:
    return ApplicationError(
        _("A declaration that is %(status)s cannot become %(target)s.")
        % {"status": Status(declaration.status).label.lower(), "target": Status(to).label.lower()},
        code="transition_not_allowed",
        extra={"status": declaration.status, "target": to},
    )


def _transition(declaration: Declaration, to: str, *, actor, comment: str = "", **fields) -> Declaration:
    # The row as it is now, not as the caller last saw it.
    declaration.refresh_from_db(fields=["status"])
    source = declaration.status
    if (source, to) not in TRANSITIONS:
        raise _not_allowed(declaration, to)
    updated = Declaration.objects.filter(pk=declaration.pk, status=source).update(
        status=to, updated_at=timezone.now(), **fields
    )
    if not updated:  # someone else moved it first
        declaration.refresh_from_db()
        raise _not_allowed(declaration, to)
    DeclarationEvent.objects.create(
        declaration=declaration,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        from_status=source,
        to_status=to,
        comment=comment,
    )
    declaration.refresh_from_db()
    return declaration


def _require_editable(declaration: Declaration) -> None:
    if declaration.status not in EDITABLE:
        raise ApplicationError(
            _("Only a draft or a declaration sent back for changes can be edited."), code="not_editable"
        )


def _require_declarant(actor, declaration: Declaration) -> None:
    firm_require(actor, declaration.organisation, "declare")


def _require_officer(officer, declaration: Declaration) -> None:
    if not officer.has_perm("declarations.review_declaration"):
        raise PermissionDenied(_("You cannot decide on declarations."))
    if not officer.is_superuser and not officer.ports.filter(pk=declaration.port_id).exists():
        raise PermissionDenied(_("This declaration is for another port."))


def _check_vehicle_and_driver(
    organisation: Organisation, vehicle: Vehicle | None, driver: Driver | None
) -> None:
    if vehicle is not None and vehicle.organisation_id != organisation.pk:
        raise ApplicationError(
            _("This vehicle is not one of the firm's."), code="foreign_vehicle", extra={"field": "vehicle"}
        )
    if driver is not None and not driver.firm_links.filter(organisation=organisation).exists():
        raise ApplicationError(
            _("This driver does not drive for the firm."), code="foreign_driver", extra={"field": "driver"}
        )


def _next_reference(port: Port) -> str:
    year = timezone.now().year
    counter, _created = ReferenceCounter.objects.select_for_update().get_or_create(port=port, year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{port.code}-{year}-{counter.last:06d}"


def _audience(declaration: Declaration, *, with_driver: bool):
    people = {declaration.declarant_id}
    people |= set(
        Membership.objects.filter(organisation=declaration.organisation, role=Role.ADMIN).values_list(
            "user_id", flat=True
        )
    )
    if with_driver and declaration.driver_id:
        people.add(declaration.driver.user_id)
    return sorted(people)


def _tell(
    event: str, declaration: Declaration, *, with_driver: bool, comment: str = "", key: str = ""
) -> None:
    notify(
        event,
        declaration,
        recipients=_audience(declaration, with_driver=with_driver),
        organisation=declaration.organisation,
        context={
            "reference": declaration.reference,
            "port": declaration.port.name_en,
            # Lazy: rendered in each recipient's language.
            "channel": RiskChannel(declaration.channel).label if declaration.channel else "",
            "comment": comment,
            "plate": declaration.vehicle.plate if declaration.vehicle_id else "",
        },
        key=key or str(declaration.events.order_by("-id").values_list("id", flat=True).first()),
    )


# --- drafts


@transaction.atomic
def declaration_create(
    *,
    actor,
    organisation: Organisation,
    port: Port,
    direction: str,
    mode: str,
    cargo_category: str,
    vehicle: Vehicle | None = None,
    driver: Driver | None = None,
    planned_arrival=None,
) -> Declaration:
    firm_require(actor, organisation, "declare")
    _check_vehicle_and_driver(organisation, vehicle, driver)
    declaration = Declaration.objects.create(
        reference=_next_reference(port),
        organisation=organisation,
        declarant=actor,
        port=port,
        direction=direction,
        mode=mode,
        cargo_category=cargo_category,
        vehicle=vehicle,
        driver=driver,
        planned_arrival=planned_arrival,
    )
    DeclarationEvent.objects.create(declaration=declaration, actor=actor, to_status=Status.DRAFT)
    return declaration


@transaction.atomic
def declaration_update(
    *,
    actor,
    declaration: Declaration,
    port: Port,
    direction: str,
    mode: str,
    cargo_category: str,
    vehicle: Vehicle | None,
    driver: Driver | None,
    planned_arrival,
) -> Declaration:
    _require_declarant(actor, declaration)
    declaration = Declaration.objects.select_for_update().get(pk=declaration.pk)
    _require_editable(declaration)
    _check_vehicle_and_driver(declaration.organisation, vehicle, driver)
    if port.pk != declaration.port_id and declaration.status != Status.DRAFT:
        raise ApplicationError(
            _("The port cannot change once the declaration was submitted."), code="port_fixed"
        )
    declaration.port, declaration.direction, declaration.mode = port, direction, mode
    declaration.cargo_category, declaration.vehicle, declaration.driver = cargo_category, vehicle, driver
    declaration.planned_arrival = planned_arrival
    declaration.save()
    return declaration


def _decimal(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value).replace(" ", "").replace(",", "."))
    except (InvalidOperation, ValueError):
        raise ApplicationError(_("Enter a number."), code="invalid_number", extra={"field": field}) from None
    if not number.is_finite():
        raise ApplicationError(_("Enter a number."), code="invalid_number", extra={"field": field})
    return number


def _goods_fields(
    *, hs_code, description, quantity, unit, gross_kg, net_kg, value, currency, origin_country
) -> dict:
    hs_code = "".join(str(hs_code).split()).replace(".", "")
    problem = hs_code_problem(hs_code)
    if problem:
        message = {
            "format": _("An HS code has 6 to 10 digits."),
            "chapter": _("There is no HS chapter %(chapter)s.") % {"chapter": hs_code[:2]},
            "heading": _("There is no HS heading %(heading)s.") % {"heading": hs_code[:4]},
        }[problem]
        raise ApplicationError(message, code="invalid_hs_code", extra={"field": "hs_code"})
    quantity, gross, net, value = (
        _decimal(quantity, "quantity"),
        _decimal(gross_kg, "gross_kg"),
        _decimal(net_kg, "net_kg"),
        _decimal(value, "value"),
    )
    if not 0 < quantity <= MAX_QUANTITY:
        raise ApplicationError(
            _("The quantity must be above zero and plausible."),
            code="invalid_quantity",
            extra={"field": "quantity"},
        )
    if not (0 < gross <= MAX_WEIGHT_KG and 0 < net <= MAX_WEIGHT_KG):
        raise ApplicationError(
            _("Weights must be above zero and at most 200 tonnes."),
            code="invalid_weight",
            extra={"field": "gross_kg"},
        )
    if net > gross:
        raise ApplicationError(
            _("The net weight cannot be more than the gross weight."),
            code="net_above_gross",
            extra={"field": "net_kg"},
        )
    if value < 0:
        raise ApplicationError(
            _("The value cannot be negative."), code="invalid_value", extra={"field": "value"}
        )
    if not currency_is_known(str(currency)):
        raise ApplicationError(
            _("Unknown currency: use a code such as CNY, KZT, USD."),
            code="invalid_currency",
            extra={"field": "currency"},
        )
    if unit not in Unit.values:
        raise ApplicationError(_("Unknown unit."), code="invalid_unit", extra={"field": "unit"})
    from django_countries import countries

    if str(origin_country).upper() not in dict(countries):
        raise ApplicationError(
            _("Unknown country."), code="invalid_country", extra={"field": "origin_country"}
        )
    description = " ".join(str(description).split())
    if not description:
        raise ApplicationError(
            _("Describe the goods."), code="description_required", extra={"field": "description"}
        )
    return {
        "hs_code": hs_code,
        "description": description[:300],
        "quantity": quantity,
        "unit": unit,
        "gross_kg": gross,
        "net_kg": net,
        "value": value,
        "currency": str(currency).upper(),
        "origin_country": str(origin_country).upper(),
    }


def _no_goods_if_empty(declaration: Declaration) -> None:
    if declaration.cargo_category == CargoCategory.EMPTY:
        raise ApplicationError(_("An empty vehicle carries no goods."), code="empty_vehicle_goods")


@transaction.atomic
def goods_add(*, actor, declaration: Declaration, **fields) -> GoodsItem:
    _require_declarant(actor, declaration)
    declaration = Declaration.objects.select_for_update().get(pk=declaration.pk)
    _require_editable(declaration)
    _no_goods_if_empty(declaration)
    clean = _goods_fields(**fields)
    position = (declaration.goods.aggregate(m=Max("position"))["m"] or 0) + 1
    return GoodsItem.objects.create(declaration=declaration, position=position, **clean)


@transaction.atomic
def goods_update(*, actor, item: GoodsItem, **fields) -> GoodsItem:
    _require_declarant(actor, item.declaration)
    declaration = Declaration.objects.select_for_update().get(pk=item.declaration_id)
    _require_editable(declaration)
    for name, value in _goods_fields(**fields).items():
        setattr(item, name, value)
    item.save()
    return item


@transaction.atomic
def goods_delete(*, actor, item: GoodsItem) -> None:
    _require_declarant(actor, item.declaration)
    declaration = Declaration.objects.select_for_update().get(pk=item.declaration_id)
    _require_editable(declaration)
    item.delete()


@transaction.atomic
def document_add(*, actor, declaration: Declaration, kind: str, upload) -> Document:
    """Keep an upload if its content (not its name) is a PDF, JPEG, PNG or HEIC photo."""
    _require_declarant(actor, declaration)
    declaration = Declaration.objects.select_for_update().get(pk=declaration.pk)
    _require_editable(declaration)
    if kind not in DocumentKind.values:
        raise ApplicationError(_("Unknown kind of document."), code="invalid_kind", extra={"field": "kind"})
    if upload is None or not upload.size:
        raise ApplicationError(_("The file is empty."), code="empty_file", extra={"field": "file"})
    if upload.size > MAX_DOCUMENT_BYTES:
        raise ApplicationError(
            _("The file is larger than 10 MB."), code="file_too_large", extra={"field": "file"}
        )
    upload.seek(0)
    mime = sniff(upload.read(262))
    upload.seek(0)
    if mime is None:
        raise ApplicationError(
            _("Upload a PDF or a photo (JPEG, PNG, HEIC). This file is neither, whatever its name says."),
            code="file_type",
            extra={"field": "file"},
        )
    name = (upload.name or "document").rsplit("/", 1)[-1][:200]
    upload.name = f"upload{ALLOWED_TYPES[mime]}"
    return Document.objects.create(
        declaration=declaration,
        kind=kind,
        file=upload,
        content_type=mime,
        size=upload.size,
        original_name=name,
        uploaded_by=actor,
    )


@transaction.atomic
def document_delete(*, actor, document: Document) -> None:
    _require_declarant(actor, document.declaration)
    declaration = Declaration.objects.select_for_update().get(pk=document.declaration_id)
    _require_editable(declaration)
    stored = document.file.name
    document.delete()
    # The file goes only once the row is gone for good: a rollback keeps both.
    transaction.on_commit(lambda: Document.file.field.storage.delete(stored))


@transaction.atomic
def declaration_copy(*, actor, declaration: Declaration) -> Declaration:
    """A new draft with the same header and goods (documents are not copied)."""
    copy = declaration_create(
        actor=actor,
        organisation=declaration.organisation,
        port=declaration.port,
        direction=declaration.direction,
        mode=declaration.mode,
        cargo_category=declaration.cargo_category,
        vehicle=declaration.vehicle,
        driver=declaration.driver,
        planned_arrival=None,
    )
    copy.copied_from = declaration
    copy.save(update_fields=["copied_from"])
    copied = [
        "position",
        "hs_code",
        "description",
        "quantity",
        "unit",
        "gross_kg",
        "net_kg",
        "value",
        "currency",
        "origin_country",
    ]
    GoodsItem.objects.bulk_create(
        GoodsItem(declaration=copy, **{name: getattr(item, name) for name in copied})
        for item in declaration.goods.all()
    )
    return copy


# --- the status machine


def submission_problems(declaration: Declaration) -> list[str]:
    """What stops a declaration from being submitted, in words for the declarant."""
    problems = []
    if declaration.vehicle_id is None:
        problems.append(_("Choose the vehicle."))
    if declaration.driver_id is None:
        problems.append(_("Choose the driver."))
    if declaration.planned_arrival is None:
        problems.append(_("Give the planned arrival."))
    has_goods = declaration.goods.exists()
    if declaration.cargo_category == CargoCategory.EMPTY:
        if has_goods:
            problems.append(_("An empty vehicle carries no goods."))
    elif not has_goods:
        problems.append(_("Add at least one goods item."))
    return problems


@transaction.atomic
def declaration_submit(*, actor, declaration: Declaration, sample_draw: float | None = None) -> Declaration:
    _require_declarant(actor, declaration)
    declaration = Declaration.objects.select_for_update().get(pk=declaration.pk)
    if declaration.status not in EDITABLE:
        raise _not_allowed(declaration, Status.SUBMITTED)
    problems = submission_problems(declaration)
    if problems:
        raise ApplicationError(" ".join(problems), code="incomplete", extra={"problems": problems})
    assessment = risk.assess(declaration, sample_draw=sample_draw)
    declaration = _transition(
        declaration,
        Status.SUBMITTED,
        actor=actor,
        channel=assessment.channel,
        channel_reasons=assessment.reasons,
        priority=assessment.priority,
        review_target_minutes=assessment.review_target_minutes,
        submitted_at=timezone.now(),
        review_due_at=timezone.now() + timedelta(minutes=assessment.review_target_minutes),
        decided_at=None,
        decided_by=None,
    )
    _tell("declaration.submitted", declaration, with_driver=False)
    policy = PortPolicy.objects.filter(port=declaration.port).first()
    if (
        policy is not None
        and policy.auto_accept_green
        and assessment.channel == RiskChannel.GREEN
        and declaration.organisation.is_verified
        and not assessment.documents_missing
    ):
        declaration = _transition(
            declaration,
            Status.ACCEPTED,
            actor=None,
            comment=_("Accepted automatically: green channel."),
            decided_at=timezone.now(),
        )
        _tell("declaration.accepted", declaration, with_driver=True)
    return declaration


@transaction.atomic
def declaration_withdraw(*, actor, declaration: Declaration, comment: str = "") -> Declaration:
    _require_declarant(actor, declaration)
    return _transition(declaration, Status.WITHDRAWN, actor=actor, comment=comment.strip())


@transaction.atomic
def declaration_review_start(*, officer, declaration: Declaration) -> Declaration:
    _require_officer(officer, declaration)
    return _transition(declaration, Status.UNDER_REVIEW, actor=officer)


@transaction.atomic
def declaration_accept(*, officer, declaration: Declaration, comment: str = "") -> Declaration:
    return _decide(officer, declaration, Status.ACCEPTED, reason=comment)


def _decide(officer, declaration: Declaration, to: str, *, reason: str = "") -> Declaration:
    """An officer's decision: accepted, changes requested or rejected (the last two with a reason)."""
    _require_officer(officer, declaration)
    reason = " ".join((reason or "").split())
    if to != Status.ACCEPTED and not reason:
        raise ApplicationError(_("Give the reason."), code="reason_required", extra={"field": "reason"})
    declaration = _transition(
        declaration, to, actor=officer, comment=reason, decided_at=timezone.now(), decided_by=officer
    )
    _tell(f"declaration.{to}", declaration, with_driver=to != Status.CHANGES_REQUESTED, comment=reason)
    return declaration


@transaction.atomic
def declaration_request_changes(*, officer, declaration: Declaration, reason: str) -> Declaration:
    return _decide(officer, declaration, Status.CHANGES_REQUESTED, reason=reason)


@transaction.atomic
def declaration_reject(*, officer, declaration: Declaration, reason: str) -> Declaration:
    return _decide(officer, declaration, Status.REJECTED, reason=reason)


@transaction.atomic
def declaration_release(*, actor, declaration: Declaration, comment: str = "") -> Declaration:
    """Set by the gate when the truck is released."""
    return _transition(declaration, Status.RELEASED, actor=actor, comment=comment)
