import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField


class Direction(models.TextChoices):
    IMPORT = "import", _("Import")
    EXPORT = "export", _("Export")
    TRANSIT = "transit", _("Transit")


class Mode(models.TextChoices):
    LOCAL = "local", _("Local declaration")
    INTEGRATED = "integrated", _("Integrated declaration")
    DIRECT_TRANSFER = "direct_transfer", _("Direct transfer")


class CargoCategory(models.TextChoices):
    ENERGY = "energy", _("Energy: coal and coking coal")
    AGRICULTURAL = "agricultural", _("Agricultural and food, perishable")
    VEHICLES = "vehicles", _("Complete vehicles for export")
    MINERALS = "minerals", _("Minerals")
    MACHINERY = "machinery", _("Machinery")
    GENERAL = "general", _("General cargo")
    DANGEROUS = "dangerous", _("Dangerous goods")
    EMPTY = "empty", _("Empty vehicle returning")


class RiskChannel(models.TextChoices):
    GREEN = "green", _("Green: release on documents")
    YELLOW = "yellow", _("Yellow: document check")
    RED = "red", _("Red: physical inspection")


CHANNEL_SEVERITY = {RiskChannel.GREEN: 0, RiskChannel.YELLOW: 1, RiskChannel.RED: 2}


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    UNDER_REVIEW = "under_review", _("Under review")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    RELEASED = "released", _("Released")


EDITABLE = {Status.DRAFT, Status.CHANGES_REQUESTED}
AWAITING_DECISION = {Status.SUBMITTED, Status.UNDER_REVIEW}


class Declaration(models.Model):
    reference = models.CharField(_("reference"), max_length=20, unique=True)
    organisation = models.ForeignKey(
        "portal.Organisation", on_delete=models.PROTECT, related_name="declarations", verbose_name=_("firm")
    )
    declarant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="declarations",
        verbose_name=_("declarant"),
    )
    port = models.ForeignKey(
        "portal.Port", on_delete=models.PROTECT, related_name="declarations", verbose_name=_("port")
    )
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    mode = models.CharField(_("mode"), max_length=20, choices=Mode.choices, default=Mode.LOCAL)
    cargo_category = models.CharField(_("cargo"), max_length=20, choices=CargoCategory.choices)
    vehicle = models.ForeignKey(
        "portal.Vehicle",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vehicle"),
    )
    driver = models.ForeignKey(
        "portal.Driver",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="declarations",
        verbose_name=_("driver"),
    )
    planned_arrival = models.DateTimeField(_("planned arrival"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    channel = models.CharField(_("risk channel"), max_length=10, choices=RiskChannel.choices, blank=True)
    channel_reasons = models.JSONField(_("why"), default=list, blank=True)
    priority = models.BooleanField(_("priority"), default=False)
    review_target_minutes = models.PositiveIntegerField(_("review target (minutes)"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    # Kept as a column (submission + target) so that the review queue can sort on it.
    review_due_at = models.DateTimeField(_("decision due"), null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    copied_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        permissions = [("review_declaration", _("Can accept, reject or ask for changes"))]
        indexes = [models.Index(fields=["port", "status"], name="declaration_port_status")]

    def __str__(self):
        return self.reference

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE

    # The service clock: from submission to the officer's decision.
    @property
    def review_deadline(self):
        return self.review_due_at

    @property
    def time_to_decision(self) -> timedelta | None:
        if self.submitted_at is None or self.decided_at is None:
            return None
        return self.decided_at - self.submitted_at

    @property
    def is_overdue(self) -> bool:
        deadline = self.review_deadline
        return bool(deadline and self.status in AWAITING_DECISION and timezone.now() > deadline)


class Unit(models.TextChoices):
    KG = "kg", _("kilograms")
    TONNE = "t", _("tonnes")
    PIECE = "pcs", _("pieces")
    LITRE = "l", _("litres")
    CUBIC_METRE = "m3", _("cubic metres")
    VEHICLE = "veh", _("vehicles")


class GoodsItem(models.Model):
    declaration = models.ForeignKey(Declaration, on_delete=models.CASCADE, related_name="goods")
    position = models.PositiveSmallIntegerField(_("item"))
    hs_code = models.CharField(_("HS code"), max_length=10)
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=4, choices=Unit.choices)
    gross_kg = models.DecimalField(_("gross weight, kg"), max_digits=12, decimal_places=3)
    net_kg = models.DecimalField(_("net weight, kg"), max_digits=12, decimal_places=3)
    value = models.DecimalField(_("value"), max_digits=16, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    origin_country = CountryField(_("country of origin"))

    class Meta:
        ordering = ["position"]
        verbose_name = _("goods item")
        verbose_name_plural = _("goods items")
        constraints = [
            models.UniqueConstraint(fields=["declaration", "position"], name="goods_unique_position"),
            models.CheckConstraint(
                condition=models.Q(net_kg__lte=models.F("gross_kg")), name="goods_net_le_gross"
            ),
            models.CheckConstraint(
                condition=models.Q(net_kg__gt=0, quantity__gt=0, value__gte=0), name="goods_positive"
            ),
        ]

    def __str__(self):
        return f"{self.position}. {self.hs_code} {self.description}"


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    PACKING_LIST = "packing_list", _("Packing list")
    CMR = "cmr", _("CMR consignment note")
    ORIGIN = "origin", _("Certificate of origin")
    PHYTOSANITARY = "phytosanitary", _("Phytosanitary certificate")
    VEHICLE_REGISTRATION = "vehicle_registration", _("Vehicle registration")
    OTHER = "other", _("Other")


def _document_path(instance, filename):
    # Never the uploader's file name on disk: it could be anything.
    return f"declarations/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{Path(filename).suffix.lower()[:8]}"


class Document(models.Model):
    declaration = models.ForeignKey(Declaration, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(_("kind"), max_length=24, choices=DocumentKind.choices)
    file = models.FileField(_("file"), upload_to=_document_path)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    original_name = models.CharField(_("file name"), max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self):
        return f"{self.get_kind_display()}: {self.original_name}"


class DeclarationEvent(models.Model):
    """The audit trail of a declaration: every transition, who, when, why."""

    declaration = models.ForeignKey(Declaration, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    from_status = models.CharField(_("from"), max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=Status.choices)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("declaration event")
        verbose_name_plural = _("declaration events")

    def __str__(self):
        return f"{self.declaration}: {self.from_status} → {self.to_status}"


class ReferenceCounter(models.Model):
    """The last sequence number of a port's declarations in a year (KHG-2026-000123)."""

    port = models.ForeignKey("portal.Port", on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["port", "year"], name="reference_counter_unique")]

    def __str__(self):
        return f"{self.port_id}/{self.year}: {self.last}"


class PortPolicy(models.Model):
    """Per-port settings of the review: random sample, automatic acceptance, default target."""

    port = models.OneToOneField("portal.Port", on_delete=models.CASCADE, related_name="declaration_policy")
    random_sample_percent = models.DecimalField(
        _("random sample, %"), max_digits=5, decimal_places=2, default=2
    )
    auto_accept_green = models.BooleanField(
        _("accept green declarations automatically"),
        default=False,
        help_text=_("Only for verified firms with complete documents."),
    )
    default_review_minutes = models.PositiveIntegerField(_("review target (minutes)"), default=120)

    class Meta:
        verbose_name = _("port review policy")
        verbose_name_plural = _("port review policies")

    def __str__(self):
        return str(self.port)


class RiskRule(models.Model):
    """One ordered rule of the risk engine; a rule matches when all its set conditions do.

    The channel of a declaration is the most severe of its matching rules (green when none
    matches); each match adds its reason. A matching rule marked "stop" ends the evaluation.
    """

    order = models.PositiveIntegerField(_("order"), default=100)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    port = models.ForeignKey(
        "portal.Port",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name=_("port"),
        help_text=_("Empty: every port."),
    )
    cargo_category = models.CharField(_("cargo"), max_length=20, choices=CargoCategory.choices, blank=True)
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices, blank=True)
    hs_chapter = models.CharField(
        _("HS chapter"), max_length=2, blank=True, help_text=_("Two digits, e.g. 93.")
    )
    origin_country = CountryField(_("country of origin"), blank=True)
    value_at_least = models.DecimalField(
        _("declared value at least"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    value_currency = models.CharField(_("in currency"), max_length=3, blank=True)
    firm_accepted_fewer_than = models.PositiveIntegerField(
        _("firm has fewer accepted declarations than"), null=True, blank=True
    )
    firm_rejected_at_least = models.PositiveIntegerField(
        _("firm had at least this many rejections in 90 days"), null=True, blank=True
    )
    documents_missing = models.BooleanField(_("required documents missing"), default=False)
    channel = models.CharField(_("channel"), max_length=10, choices=RiskChannel.choices)
    reason = models.CharField(_("reason shown"), max_length=200)
    review_target_minutes = models.PositiveIntegerField(_("review target (minutes)"), null=True, blank=True)
    priority = models.BooleanField(_("priority"), default=False)
    stop = models.BooleanField(_("stop after this rule"), default=False)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")

    def __str__(self):
        return f"{self.order}. {self.name}"


def _convoy_path(instance, filename):
    return f"convoys/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class ConvoyImport(models.Model):
    """A file of vehicles, drivers and weights that files one draft per row from a template.

    Every row is checked before anything is created; ``errors`` holds the report of a failed
    one as ``{"row", "column", "message"}`` items, rows numbered as the spreadsheet shows them.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("In progress")
        FAILED = "failed", _("Failed")
        DONE = "done", _("Done")

    organisation = models.ForeignKey(
        "portal.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("firm")
    )
    template = models.ForeignKey(
        Declaration, on_delete=models.PROTECT, related_name="+", verbose_name=_("template")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    file = models.FileField(_("file"), upload_to=_convoy_path)
    original_name = models.CharField(_("file name"), max_length=200)
    # The uploader's language at the time: the error report is written in it.
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    status = models.CharField(_("status"), max_length=10, choices=State.choices, default=State.PENDING)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows checked"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    created_count = models.PositiveIntegerField(_("declarations created"), default=0)
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("convoy")
        verbose_name_plural = _("convoys")

    def __str__(self):
        return f"{self.template} × {self.rows_total}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.State.FAILED, self.State.DONE}
