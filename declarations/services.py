"""Every write of declarations. Each transition is a conditional update (so a double
submit or two officers deciding at once change the row once) and one DeclarationEvent."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from declarations import convoy, risk
from declarations.models import (
    AWAITING_DECISION,
    EDITABLE,
    CargoCategory,
    ConvoyImport,
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
from portal.audit import audit_log
from portal.errors import ApplicationError
from portal.models import Driver, Membership, Organisation, Port, Role, Vehicle
from portal.permissions import firm_require
from portal.phones import parse_phone
from portal.plates import plate_normalise

logger = logging.getLogger(__name__)

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


def _next_references(port: Port, count: int = 1) -> list[str]:
    year = timezone.now().year
    counter, _created = ReferenceCounter.objects.select_for_update().get_or_create(port=port, year=year)
    first = counter.last + 1
    counter.last += count
    counter.save(update_fields=["last"])
    return [f"{port.code}-{year}-{n:06d}" for n in range(first, counter.last + 1)]


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
        reference=_next_references(port)[0],
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


GOODS_COPIED = (
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
)


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
    GoodsItem.objects.bulk_create(
        GoodsItem(declaration=copy, **{name: getattr(item, name) for name in GOODS_COPIED})
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


# --- convoys: one draft per row of a file, from a template

CONVOY_INLINE_ROWS = 50  # up to this many rows are filed in the request; more go to a worker
CONVOY_PROGRESS_EVERY = 50  # rows checked between two progress updates
GRAM, CENT = Decimal("0.001"), Decimal("0.01")


def convoy_template_problem(template: Declaration) -> str | None:
    """Why a declaration cannot be the template of a convoy, in words for the declarant."""
    items = list(template.goods.all()[:2])
    if template.cargo_category == CargoCategory.EMPTY:
        return _("An empty vehicle carries no goods: remove the goods item first.") if items else None
    if len(items) != 1:
        return _("A convoy is filed from a declaration with exactly one goods item.")
    try:
        _goods_fields(**{name: getattr(items[0], name) for name in GOODS_COPIED if name != "position"})
    except ApplicationError as error:
        return _("Correct the goods item first: %(problem)s") % {"problem": error.message}
    return None


def convoy_start(*, actor, template: Declaration, upload) -> ConvoyImport:
    """Keep a convoy file and file it: at once if it is small, else by a worker.

    A file that cannot be read at all (empty, not a sheet, columns missing, too long) is
    refused here and nothing is kept; the rows themselves are checked by ``convoy_process``.
    """
    firm_require(actor, template.organisation, "declare")
    problem = convoy_template_problem(template)
    if problem:
        raise ApplicationError(problem, code="convoy_template")
    if upload is None or not upload.size:
        raise ApplicationError(_("The file is empty."), code="convoy_empty", extra={"field": "file"})
    if upload.size > convoy.MAX_BYTES:
        raise ApplicationError(
            _("The file is larger than 2 MB."), code="convoy_too_large", extra={"field": "file"}
        )
    upload.seek(0)
    data = upload.read()
    rows = convoy.read_rows(data)
    record = ConvoyImport.objects.create(
        organisation=template.organisation,
        template=template,
        created_by=actor,
        file=ContentFile(data, name="convoy"),
        original_name=(upload.name or "convoy").rsplit("/", 1)[-1][:200],
        language=translation.get_language() or settings.LANGUAGE_CODE,
        rows_total=len(rows),
    )
    if len(rows) <= CONVOY_INLINE_ROWS:
        return convoy_process(convoy_id=record.pk)
    transaction.on_commit(lambda: _convoy_queue(record.pk))
    return record


def _convoy_queue(convoy_id: int) -> None:
    from declarations.tasks import convoy_process as convoy_process_task

    try:
        convoy_process_task.delay(convoy_id)
    except Exception:
        # The broker is down: say so rather than leave the page waiting for ever (unless a
        # worker took the convoy after all).
        logger.exception("convoy %s could not be queued", convoy_id)
        message = _("The file could not be queued. Upload it again in a few minutes.")
        ConvoyImport.objects.filter(pk=convoy_id, status=ConvoyImport.State.PENDING).update(
            status=ConvoyImport.State.FAILED, errors=[_report(None, "", message)], finished_at=timezone.now()
        )


def convoy_process(*, convoy_id: int) -> ConvoyImport:
    """Check every row of a convoy, then create all its drafts in one transaction, or none."""
    claimed = ConvoyImport.objects.filter(pk=convoy_id, status=ConvoyImport.State.PENDING).update(
        status=ConvoyImport.State.RUNNING, started_at=timezone.now()
    )
    record = ConvoyImport.objects.select_related("template__port", "organisation", "created_by").get(
        pk=convoy_id
    )
    if not claimed:  # already taken by another run
        return record
    with translation.override(record.language):
        try:
            rows, errors = _convoy_check(record)
            if errors:
                _convoy_finish(record.pk, ConvoyImport.State.FAILED, errors=errors)
            else:
                _convoy_create(record, rows)
        except ApplicationError as error:
            _convoy_finish(record.pk, ConvoyImport.State.FAILED, errors=[_report(None, "", error.message)])
        except (PermissionDenied, Http404):
            message = _("You can no longer declare for this firm.")
            _convoy_finish(record.pk, ConvoyImport.State.FAILED, errors=[_report(None, "", message)])
        except Exception:
            message = _("Something went wrong: nothing was created. Upload the file again.")
            _convoy_finish(record.pk, ConvoyImport.State.FAILED, errors=[_report(None, "", message)])
            raise
    record.refresh_from_db()
    return record


def _report(row: int | None, column: str, message) -> dict:
    return {"row": row, "column": column, "message": str(message)}


def _convoy_finish(convoy_id: int, status: str, *, errors: list | None = None, created: int = 0) -> None:
    ConvoyImport.objects.filter(pk=convoy_id).update(
        status=status, errors=errors or [], created_count=created, finished_at=timezone.now()
    )


@dataclass(frozen=True)
class _ConvoyRow:
    vehicle: Vehicle
    driver: Driver
    planned_arrival: datetime | None
    goods: dict | None  # the template's goods item with the row's weights; None: empty vehicle


def _convoy_check(record: ConvoyImport) -> tuple[list[_ConvoyRow], list[dict]]:
    """Every row against the firm's vehicles and drivers and the goods rules; all the errors."""
    if record.created_by is None:
        raise PermissionDenied
    template, organisation = record.template, record.organisation
    firm_require(record.created_by, organisation, "declare")
    problem = convoy_template_problem(template)
    if problem:
        raise ApplicationError(problem, code="convoy_template")
    with record.file.open("rb") as f:
        rows = convoy.read_rows(f.read())
    context = {
        "vehicles": {v.plate_normalised: v for v in Vehicle.objects.filter(organisation=organisation)},
        "drivers": _drivers_by_identifier(organisation),
        "item": template.goods.first(),
        "time_zone": ZoneInfo(template.port.time_zone),
        "template": template,
        "seen": {},  # vehicle id -> the row that first named it
    }
    clean, errors = [], []
    for done, row in enumerate(rows, start=1):
        row_clean, row_errors = _convoy_row(row, **context)
        clean.append(row_clean)
        errors += row_errors
        if done % CONVOY_PROGRESS_EVERY == 0 or done == len(rows):
            ConvoyImport.objects.filter(pk=record.pk).update(rows_done=done)
    return clean, errors


def _drivers_by_identifier(organisation: Organisation) -> dict[str, Driver]:
    """The firm's drivers by phone (E.164) and by licence number (upper case, no spaces)."""
    drivers = {}
    for driver in Driver.objects.filter(firm_links__organisation=organisation).select_related("user"):
        if driver.licence_number:
            drivers["".join(driver.licence_number.split()).upper()] = driver
        if driver.user.phone:
            drivers[driver.user.phone.as_e164] = driver
    return drivers


def _find_driver(text: str, drivers: dict[str, Driver]) -> Driver | None:
    licence = "".join(text.split()).upper()
    if licence in drivers:
        return drivers[licence]
    # A spreadsheet turns "+77011234567" into the number 77011234567.
    for candidate in (text, f"+{licence}" if licence.isdigit() else None):
        number = parse_phone(candidate) if candidate else None
        if number is not None and number.as_e164 in drivers:
            return drivers[number.as_e164]
    return None


def _convoy_row(row, *, vehicles, drivers, item, time_zone, template, seen) -> tuple[_ConvoyRow, list]:
    values, errors = row.values, []

    def error(column, message):
        errors.append(_report(row.number, column, message))

    plate = values["plate"]
    vehicle = vehicles.get(plate_normalise(plate))
    if not plate:
        error("plate", _("Give the plate."))
    elif vehicle is None:
        error("plate", _("The firm has no vehicle with the plate %(plate)s.") % {"plate": plate})
    elif vehicle.pk in seen:
        error("plate", _("This vehicle is already on row %(row)d.") % {"row": seen[vehicle.pk]})
    else:
        seen[vehicle.pk] = row.number

    driver = _find_driver(values["driver"], drivers) if values["driver"] else None
    if not values["driver"]:
        error("driver", _("Give the driver's phone or licence number."))
    elif driver is None:
        error(
            "driver",
            _("No driver of the firm has the phone or licence number %(driver)s.")
            % {"driver": values["driver"]},
        )

    planned_arrival = template.planned_arrival
    if values.get("planned_arrival"):
        planned_arrival = _arrival(values["planned_arrival"], time_zone)
        if planned_arrival is None:
            error("planned_arrival", _("Give the date and time as 2026-05-01 08:00."))

    goods = None
    if item is None:
        for column in ("gross_kg", "net_kg"):
            if values[column]:
                error(column, _("An empty vehicle carries no goods: leave the weights blank."))
    else:
        goods = _convoy_goods(item, values, error)
    return _ConvoyRow(vehicle, driver, planned_arrival, goods), errors


def _arrival(text: str, time_zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 date and time, in the port's time zone unless the text gives an offset."""
    if len(text) <= len("2026-05-01"):
        return None  # a date alone: the hour matters at the gate
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return timezone.make_aware(moment, time_zone) if timezone.is_naive(moment) else moment


def _convoy_goods(item: GoodsItem, values: dict, error) -> dict | None:
    """The template's goods item with the row's weights; quantity by weight, value pro rata."""
    weights = {}
    for column, missing in (
        ("gross_kg", _("Give the gross weight in kg.")),
        ("net_kg", _("Give the net weight in kg.")),
    ):
        if not values[column]:
            error(column, missing)
            continue
        try:
            weight = _decimal(values[column], column)
        except ApplicationError as problem:
            error(column, problem.message)
            continue
        # Grams, as stored; a weight too long to round is refused by the weight rule below.
        weights[column] = weight.quantize(GRAM, ROUND_HALF_UP) if abs(weight) <= MAX_WEIGHT_KG else weight
    if len(weights) < 2:
        return None
    gross, net = weights["gross_kg"], weights["net_kg"]
    fields = {name: getattr(item, name) for name in GOODS_COPIED if name != "position"}
    fields |= {"gross_kg": gross, "net_kg": net}
    if 0 < net <= MAX_WEIGHT_KG:  # else the weight rule refuses the row
        quantity = {Unit.KG: net, Unit.TONNE: net / 1000}.get(item.unit, item.quantity)
        fields["quantity"] = quantity.quantize(GRAM, ROUND_HALF_UP)
        fields["value"] = (item.value * net / item.net_kg).quantize(CENT, ROUND_HALF_UP)
    try:
        return _goods_fields(**fields)
    except ApplicationError as problem:
        field = problem.extra.get("field")
        if field == "gross_kg" and 0 < gross <= MAX_WEIGHT_KG:
            field = "net_kg"  # the weight rule names the gross weight whichever is out of range
        error(field if field in ("gross_kg", "net_kg") else "net_kg", problem.message)
        return None


@transaction.atomic
def _convoy_create(record: ConvoyImport, rows: list[_ConvoyRow]) -> None:
    """What ``declaration_copy`` writes for one draft, for every row at once: the rows were
    checked against the firm, and the declarant's role, by ``_convoy_check``."""
    template, actor = record.template, record.created_by
    references = _next_references(template.port, len(rows))
    declarations = Declaration.objects.bulk_create(
        Declaration(
            reference=reference,
            organisation=record.organisation,
            declarant=actor,
            port=template.port,
            direction=template.direction,
            mode=template.mode,
            cargo_category=template.cargo_category,
            vehicle=row.vehicle,
            driver=row.driver,
            planned_arrival=row.planned_arrival,
            copied_from=template,
        )
        for reference, row in zip(references, rows, strict=True)
    )
    DeclarationEvent.objects.bulk_create(
        DeclarationEvent(declaration=declaration, actor=actor, to_status=Status.DRAFT)
        for declaration in declarations
    )
    GoodsItem.objects.bulk_create(
        GoodsItem(declaration=declaration, position=1, **row.goods)
        for declaration, row in zip(declarations, rows, strict=True)
        if row.goods is not None
    )
    audit_log(
        actor=actor,
        action="convoy.filed",
        obj=record,
        organisation=record.organisation,
        template=template.reference,
        created=len(declarations),
    )
    _convoy_finish(record.pk, ConvoyImport.State.DONE, created=len(declarations))
