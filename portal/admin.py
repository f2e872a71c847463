from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal import services
from portal.models import AuditEvent, Driver, Invitation, Membership, Organisation, Port, User, Vehicle


class PortScopedAdmin(admin.ModelAdmin):
    """Officers see the ports they are assigned to; superusers see all."""

    port_field = "pk"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        ports = request.user.ports.values("pk")
        return qs.filter(**{f"{self.port_field}__in": ports})


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["display_name", "pk"]
    list_display = ["__str__", "phone", "phone_verified", "email", "is_staff", "language"]
    list_filter = ["is_staff", "is_active", "phone_verified", "groups", "ports"]
    search_fields = ["display_name", "phone", "email"]
    filter_horizontal = ["groups", "user_permissions", "ports"]
    fieldsets = [
        (None, {"fields": ["display_name", "phone", "phone_verified", "email", "password", "language"]}),
        (_("Officer"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "ports"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "phone", "password1", "password2"]})]


@admin.register(Port)
class PortAdmin(PortScopedAdmin):
    list_display = ["code", "name_en", "name_zh_hans", "neighbour_country", "time_zone", "open_24h"]


@admin.action(description=_("Mark selected firms as verified"), permissions=["verify"])
def verify_organisations(modeladmin, request, queryset):
    for organisation in queryset.filter(verified_at__isnull=True):
        services.organisation_verify(officer=request.user, organisation=organisation)
    count = queryset.count()
    modeladmin.message_user(
        request, ngettext("%d firm verified.", "%d firms verified.", count) % count, messages.SUCCESS
    )


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "country", "registration_number", "verified_at"]
    list_filter = ["kind", "country", ("verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "registration_number"]
    readonly_fields = ["verified_at", "verified_by", "created_at"]
    actions = [verify_organisations]
    inlines = [MembershipInline]

    def has_verify_permission(self, request):
        return request.user.has_perm("portal.verify_organisation")


@admin.register(Driver)
class DriverAdmin(admin.ModelAdmin):
    list_display = ["__str__", "licence_number", "id_document_number", "nationality"]
    search_fields = ["user__display_name", "user__phone", "licence_number", "id_document_number"]
    autocomplete_fields = ["user"]


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ["plate", "plate_normalised", "country", "kind", "trailer_plate", "organisation"]
    list_filter = ["kind", "country"]
    search_fields = ["plate_normalised", "plate", "trailer_plate", "organisation__name"]
    readonly_fields = ["plate_normalised"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    readonly_fields = ["token"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "organisation"]
    list_filter = ["action"]
    search_fields = ["object_id", "organisation__name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
