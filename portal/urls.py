from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookings import api as bookings_api
from bookings import gate_api
from declarations import api as declarations_api
from portal import api, views

admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Landport"
admin.site.site_title = _("Landport back office")
admin.site.index_title = _("Back office")


class SchemaView(SpectacularAPIView):
    """The schema is a contract: always in English, whatever the caller's language."""

    def dispatch(self, request, *args, **kwargs):
        with translation.override("en"):
            response = super().dispatch(request, *args, **kwargs)
            response.render()
        return response


api_v1 = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("firms/", api.FirmListApi.as_view(), name="firms"),
    path("firms/<int:firm_id>/", api.FirmDetailApi.as_view(), name="firm"),
    path("firms/<int:firm_id>/members/", api.MemberListApi.as_view(), name="members"),
    path("firms/<int:firm_id>/members/<int:membership_id>/", api.MemberDetailApi.as_view(), name="member"),
    path("firms/<int:firm_id>/invitations/", api.InvitationCreateApi.as_view(), name="invitations"),
    path("firms/<int:firm_id>/drivers/", api.DriverListApi.as_view(), name="drivers"),
    path("firms/<int:firm_id>/vehicles/", api.VehicleListApi.as_view(), name="vehicles"),
    path("firms/<int:firm_id>/vehicles/<int:vehicle_id>/", api.VehicleDetailApi.as_view(), name="vehicle"),
    path(
        "firms/<int:firm_id>/declarations/",
        declarations_api.DeclarationListApi.as_view(),
        name="declarations",
    ),
    path("declarations/<int:pk>/", declarations_api.DeclarationDetailApi.as_view(), name="declaration"),
    path("declarations/<int:pk>/goods/", declarations_api.GoodsListApi.as_view(), name="declaration_goods"),
    path(
        "declarations/<int:pk>/goods/<int:item_id>/",
        declarations_api.GoodsDetailApi.as_view(),
        name="declaration_goods_item",
    ),
    path(
        "declarations/<int:pk>/documents/",
        declarations_api.DocumentListApi.as_view(),
        name="declaration_documents",
    ),
    path(
        "declarations/<int:pk>/documents/<int:document_id>/",
        declarations_api.DocumentDetailApi.as_view(),
        name="declaration_document",
    ),
    path(
        "declarations/<int:pk>/documents/<int:document_id>/file/",
        declarations_api.DocumentFileApi.as_view(),
        name="declaration_document_file",
    ),
    path("declarations/<int:pk>/submit/", declarations_api.SubmitApi.as_view(), name="declaration_submit"),
    path(
        "declarations/<int:pk>/withdraw/", declarations_api.WithdrawApi.as_view(), name="declaration_withdraw"
    ),
    path("declarations/<int:pk>/copy/", declarations_api.CopyApi.as_view(), name="declaration_copy"),
    path("declarations/<int:pk>/history/", declarations_api.HistoryApi.as_view(), name="declaration_history"),
    path("gate/scan/", gate_api.ScanApi.as_view(), name="gate_scan"),
    path("gate/scans/", gate_api.SyncApi.as_view(), name="gate_scans"),
    path(
        "ports/<str:code>/availability/", bookings_api.PortAvailabilityApi.as_view(), name="port_availability"
    ),
    path(
        "declarations/<int:pk>/availability/",
        bookings_api.DeclarationAvailabilityApi.as_view(),
        name="declaration_availability",
    ),
    path("bookings/", bookings_api.BookingCreateApi.as_view(), name="bookings"),
    path("firms/<int:firm_id>/bookings/", bookings_api.FirmBookingListApi.as_view(), name="firm_bookings"),
    path("bookings/<int:pk>/", bookings_api.BookingDetailApi.as_view(), name="booking"),
    path("bookings/<int:pk>/move/", bookings_api.BookingMoveApi.as_view(), name="booking_move"),
    path("bookings/<int:pk>/cancel/", bookings_api.BookingCancelApi.as_view(), name="booking_cancel"),
    path("bookings/<int:pk>/pass.svg", bookings_api.PassSvgApi.as_view(), name="booking_pass_svg"),
    path("bookings/<int:pk>/pass.png", bookings_api.PassPngApi.as_view(), name="booking_pass_png"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]

firm = [
    path("", views.firm_detail, name="firm_detail"),
    path("members/", views.firm_members, name="firm_members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("drivers/", views.firm_drivers, name="firm_drivers"),
    path("drivers/<int:driver_id>/remove/", views.driver_remove, name="driver_remove"),
    path("vehicles/", views.firm_vehicles, name="firm_vehicles"),
    path("vehicles/<int:vehicle_id>/", views.vehicle_edit, name="vehicle_edit"),
    path("vehicles/<int:vehicle_id>/delete/", views.vehicle_delete, name="vehicle_delete"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/db", views.healthz_db, name="healthz_db"),
    path("language/", views.language_set, name="language_set"),
    path("profile/", views.profile, name="profile"),
    path("profile/driver/", views.driver_profile, name="driver_profile"),
    path("profile/api-token/", views.api_token_rotate, name="api_token_rotate"),
    path("firms/new/", views.firm_create, name="firm_create"),
    path("firms/<int:firm_id>/", include(firm)),
    # Short: the link travels by SMS.
    path("i/<str:token>/", views.invitation_accept, name="invitation_accept"),
    # Before allauth's own: signing out also takes the saved passes off the phone.
    path("accounts/logout/", views.SignOutView.as_view(), name="account_logout"),
    path("accounts/", include("allauth.urls")),
    path("notifications/", include("notifications.urls")),
    path("gate/", include("bookings.gate_urls")),
    path("", include("declarations.urls")),
    path("", include("bookings.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
]
