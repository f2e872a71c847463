"""The back office for customs: officers of a port see that port's declarations only."""

from django.contrib import admin, messages
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from declarations import services
from declarations.forms import ReasonForm
from declarations.models import (
    AWAITING_DECISION,
    CargoCategory,
    ConvoyImport,
    Declaration,
    DeclarationEvent,
    Document,
    GoodsItem,
    PortPolicy,
    RiskRule,
)
from portal.errors import ApplicationError


class OverdueFilter(admin.SimpleListFilter):
    title = _("service clock")
    parameter_name = "clock"

    def lookups(self, request, model_admin):
        return [("overdue", _("overdue")), ("due", _("awaiting decision, in time"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(status__in=AWAITING_DECISION, review_due_at__lt=now)
        if self.value() == "due":
            return queryset.filter(status__in=AWAITING_DECISION, review_due_at__gte=now)
        return queryset


class GoodsInline(admin.TabularInline):
    model = GoodsItem
    extra = 0
    can_delete = False
    fields = [
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
    readonly_fields = fields


class DocumentInline(admin.TabularInline):
    model = Document
    extra = 0
    can_delete = False
    fields = ["kind", "view", "content_type", "size", "uploaded_at"]
    readonly_fields = fields

    @admin.display(description=_("file"))
    def view(self, obj):
        url = reverse("declarations:document", args=[obj.declaration_id, obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, obj.original_name)


class EventInline(admin.TabularInline):
    model = DeclarationEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "actor", "from_status", "to_status", "comment"]
    readonly_fields = fields
    verbose_name_plural = _("history")


def _decide(modeladmin, request, queryset, service, *, needs_reason: bool, title):
    if needs_reason and "apply" not in request.POST:
        return render(
            request,
            "admin/declarations/reason.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": title,
                "declarations": queryset,
                "form": ReasonForm(),
                "action": request.POST["action"],
                "opts": modeladmin.model._meta,
            },
        )
    reason = ""
    if needs_reason:
        form = ReasonForm(request.POST)
        if not form.is_valid():
            return render(
                request,
                "admin/declarations/reason.html",
                {
                    **modeladmin.admin_site.each_context(request),
                    "title": title,
                    "declarations": queryset,
                    "form": form,
                    "action": request.POST["action"],
                    "opts": modeladmin.model._meta,
                },
            )
        reason = form.cleaned_data["reason"]
    done = 0
    for declaration in queryset:
        try:
            if needs_reason:
                service(officer=request.user, declaration=declaration, reason=reason)
            else:
                service(officer=request.user, declaration=declaration)
            done += 1
        except ApplicationError as error:
            modeladmin.message_user(request, f"{declaration}: {error.message}", messages.ERROR)
    if done:
        modeladmin.message_user(
            request, ngettext("%d declaration done.", "%d declarations done.", done) % done, messages.SUCCESS
        )
    return None


@admin.action(description=_("Accept"), permissions=["review"])
def accept(modeladmin, request, queryset):
    return _decide(
        modeladmin, request, queryset, services.declaration_accept, needs_reason=False, title=_("Accept")
    )


@admin.action(description=_("Ask for changes (with a reason)"), permissions=["review"])
def request_changes(modeladmin, request, queryset):
    return _decide(
        modeladmin,
        request,
        queryset,
        services.declaration_request_changes,
        needs_reason=True,
        title=_("Ask for changes"),
    )


@admin.action(description=_("Reject (with a reason)"), permissions=["review"])
def reject(modeladmin, request, queryset):
    return _decide(
        modeladmin, request, queryset, services.declaration_reject, needs_reason=True, title=_("Reject")
    )


@admin.action(description=_("Start the review"), permissions=["review"])
def start_review(modeladmin, request, queryset):
    return _decide(
        modeladmin,
        request,
        queryset,
        services.declaration_review_start,
        needs_reason=False,
        title=_("Start the review"),
    )


@admin.register(Declaration)
class DeclarationAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "organisation",
        "port",
        "status",
        "channel",
        "cargo_category",
        "plate",
        "review_due_at",
        "overdue",
    ]
    list_filter = [
        "status",
        "channel",
        "cargo_category",
        OverdueFilter,
        ("port", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["reference", "vehicle__plate_normalised", "vehicle__plate", "organisation__name"]
    list_select_related = ["organisation", "port", "vehicle"]
    actions = [start_review, accept, request_changes, reject]
    inlines = [GoodsInline, DocumentInline, EventInline]
    readonly_fields = [
        "reference",
        "organisation",
        "declarant",
        "port",
        "direction",
        "mode",
        "cargo_category",
        "vehicle",
        "driver",
        "planned_arrival",
        "status",
        "channel",
        "channel_reasons",
        "priority",
        "review_target_minutes",
        "submitted_at",
        "review_due_at",
        "decided_at",
        "decided_by",
    ]
    exclude = ["copied_from"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if not request.user.is_superuser:
            qs = qs.filter(port__in=request.user.ports.values("pk"))
        return qs

    def get_ordering(self, request):
        """The review queue: awaiting a decision first, overdue first, perishables first,
        then priority cargo, then by the time the decision is due."""

        def first_if(condition):
            return Case(When(condition, then=Value(0)), default=Value(1), output_field=IntegerField())

        return [
            first_if(Q(status__in=AWAITING_DECISION)).asc(),
            first_if(Q(review_due_at__lt=timezone.now())).asc(),
            first_if(Q(cargo_category=CargoCategory.AGRICULTURAL)).asc(),
            F("priority").desc(),
            F("review_due_at").asc(nulls_last=True),
            F("created_at").desc(),
        ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("declarations.review_declaration")

    @admin.display(description=_("plate"), ordering="vehicle__plate_normalised")
    def plate(self, obj):
        return obj.vehicle.plate if obj.vehicle_id else "—"

    @admin.display(description=_("overdue"), boolean=True)
    def overdue(self, obj):
        return obj.is_overdue


@admin.register(RiskRule)
class RiskRuleAdmin(admin.ModelAdmin):
    list_display = [
        "order",
        "name",
        "active",
        "port",
        "channel",
        "reason",
        "review_target_minutes",
        "priority",
        "stop",
    ]
    list_editable = ["active"]
    list_filter = ["active", "channel", "port"]


@admin.register(PortPolicy)
class PortPolicyAdmin(admin.ModelAdmin):
    list_display = ["port", "random_sample_percent", "auto_accept_green", "default_review_minutes"]


@admin.register(ConvoyImport)
class ConvoyImportAdmin(admin.ModelAdmin):
    """Read only: a convoy is filed by the firm on its pages."""

    list_display = [
        "created_at",
        "organisation",
        "template",
        "created_by",
        "status",
        "rows_total",
        "created_count",
    ]
    list_filter = ["status"]
    list_select_related = ["organisation", "template", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
