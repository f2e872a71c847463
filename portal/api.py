"""REST API for accounts and firms, with the same permissions as the pages."""

from django.shortcuts import get_object_or_404
from django.utils import translation
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView as DrfAPIView

from portal import selectors, services
from portal.adapters import client_ip
from portal.models import Invitation, Organisation, Role, Vehicle
from portal.permissions import firm_access


class APIView(DrfAPIView):
    """Answers in the signed-in user's language, as the pages do.

    The user is known only once DRF has authenticated the request (a token is not
    seen by the middleware), hence here rather than in UserLanguageMiddleware.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.user.is_authenticated and request.user.language:
            translation.activate(request.user.language)
            request.LANGUAGE_CODE = request.user.language


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    phone = PhoneNumberField(allow_null=True)
    phone_verified = serializers.BooleanField()
    email = serializers.EmailField(allow_null=True)
    language = serializers.CharField()


class MeApi(APIView):
    @extend_schema(responses=UserOutput, operation_id="me")
    def get(self, request):
        return Response(UserOutput(request.user).data)


class FirmOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Organisation.Kind.choices)
    country = CountryField()
    registration_number = serializers.CharField()
    is_verified = serializers.BooleanField()
    my_role = serializers.SerializerMethodField()

    def get_my_role(self, obj) -> str | None:
        return self.context.get("roles", {}).get(obj.pk)


class FirmInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Organisation.Kind.choices)
    country = CountryField()
    registration_number = serializers.CharField(max_length=40)


class FirmListApi(APIView):
    @extend_schema(responses=FirmOutput(many=True), operation_id="firms_list")
    def get(self, request):
        memberships = selectors.home_memberships(request.user)
        roles = {m.organisation_id: m.role for m in memberships}
        firms = [m.organisation for m in memberships]
        return Response(FirmOutput(firms, many=True, context={"roles": roles}).data)

    @extend_schema(request=FirmInput, responses={201: FirmOutput}, operation_id="firms_create")
    def post(self, request):
        data = FirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        firm = services.organisation_create(user=request.user, **data.validated_data)
        return Response(FirmOutput(firm, context={"roles": {firm.pk: Role.ADMIN}}).data, status=201)


class FirmDetailApi(APIView):
    @extend_schema(responses=FirmOutput, operation_id="firms_retrieve")
    def get(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("view")
        return Response(FirmOutput(access.organisation, context={"roles": {firm_id: access.role}}).data)

    @extend_schema(request=FirmInput, responses=FirmOutput, operation_id="firms_update")
    def put(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("edit")
        data = FirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        firm = services.organisation_update(
            actor=request.user, organisation=access.organisation, **data.validated_data
        )
        return Response(FirmOutput(firm, context={"roles": {firm_id: access.role}}).data)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user = UserOutput()
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberListApi(APIView):
    @extend_schema(responses=MemberOutput(many=True), operation_id="members_list")
    def get(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("view_members")
        return Response(MemberOutput(selectors.memberships_of(access.organisation), many=True).data)


class MemberDetailApi(APIView):
    def _membership(self, request, firm_id, membership_id):
        access = firm_access(request.user, firm_id)
        access.require("manage_members")
        return get_object_or_404(access.organisation.memberships, pk=membership_id)

    @extend_schema(request=MemberRoleInput, responses=MemberOutput, operation_id="members_update")
    def patch(self, request, firm_id, membership_id):
        membership = self._membership(request, firm_id, membership_id)
        data = MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            actor=request.user, membership=membership, **data.validated_data
        )
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None}, operation_id="members_destroy")
    def delete(self, request, firm_id, membership_id):
        membership = self._membership(request, firm_id, membership_id)
        services.membership_remove(actor=request.user, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Invitation.As.choices)
    phone = serializers.CharField(
        required=False, allow_blank=True, help_text="E.164, or national with region"
    )
    region = serializers.CharField(required=False, allow_blank=True, max_length=2)
    email = serializers.EmailField(required=False, allow_blank=True)


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    phone = PhoneNumberField(allow_null=True)
    email = serializers.EmailField(allow_null=True)
    expires_at = serializers.DateTimeField()


class InvitationCreateApi(APIView):
    @extend_schema(
        request=InvitationInput, responses={201: InvitationOutput}, operation_id="invitations_create"
    )
    def post(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        if not (access.can("manage_members") or access.can("manage_drivers")):
            access.require("manage_members")  # 403 before the body is even read
        data = InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        access.require("manage_drivers" if data.validated_data["role"] == "driver" else "manage_members")
        invitation = services.invitation_create(
            client_ip=client_ip(request),
            actor=request.user,
            organisation=access.organisation,
            role=data.validated_data["role"],
            phone=data.validated_data.get("phone", ""),
            email=data.validated_data.get("email", ""),
            region=(data.validated_data.get("region") or "").upper() or None,
        )
        return Response(InvitationOutput(invitation).data, status=201)


class DriverOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="user.display_name")
    phone = PhoneNumberField(source="user.phone", allow_null=True)
    licence_number = serializers.CharField()
    id_document_number = serializers.CharField()
    nationality = CountryField()


class DriverListApi(APIView):
    @extend_schema(responses=DriverOutput(many=True), operation_id="drivers_list")
    def get(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("view_drivers")
        return Response(DriverOutput(selectors.drivers_of(access.organisation), many=True).data)


class VehicleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    plate = serializers.CharField()
    plate_normalised = serializers.CharField()
    country = CountryField()
    kind = serializers.ChoiceField(choices=Vehicle.Kind.choices)
    trailer_plate = serializers.CharField()


class VehicleInput(serializers.Serializer):
    plate = serializers.CharField(max_length=20)
    country = CountryField()
    kind = serializers.ChoiceField(choices=Vehicle.Kind.choices)
    trailer_plate = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")


class VehicleListApi(APIView):
    @extend_schema(responses=VehicleOutput(many=True), operation_id="vehicles_list")
    def get(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("view_vehicles")
        return Response(VehicleOutput(selectors.vehicles_of(access.organisation), many=True).data)

    @extend_schema(request=VehicleInput, responses={201: VehicleOutput}, operation_id="vehicles_create")
    def post(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("manage_vehicles")
        data = VehicleInput(data=request.data)
        data.is_valid(raise_exception=True)
        vehicle = services.vehicle_create(
            actor=request.user, organisation=access.organisation, **data.validated_data
        )
        return Response(VehicleOutput(vehicle).data, status=201)


class VehicleDetailApi(APIView):
    def _vehicle(self, request, firm_id, vehicle_id, action):
        access = firm_access(request.user, firm_id)
        vehicle = get_object_or_404(access.organisation.vehicles, pk=vehicle_id)
        access.require(action)
        return vehicle

    @extend_schema(responses=VehicleOutput, operation_id="vehicles_retrieve")
    def get(self, request, firm_id, vehicle_id):
        return Response(VehicleOutput(self._vehicle(request, firm_id, vehicle_id, "view_vehicles")).data)

    @extend_schema(request=VehicleInput, responses=VehicleOutput, operation_id="vehicles_update")
    def put(self, request, firm_id, vehicle_id):
        vehicle = self._vehicle(request, firm_id, vehicle_id, "manage_vehicles")
        data = VehicleInput(data=request.data)
        data.is_valid(raise_exception=True)
        vehicle = services.vehicle_update(actor=request.user, vehicle=vehicle, **data.validated_data)
        return Response(VehicleOutput(vehicle).data)

    @extend_schema(responses={204: None}, operation_id="vehicles_destroy")
    def delete(self, request, firm_id, vehicle_id):
        vehicle = self._vehicle(request, firm_id, vehicle_id, "manage_vehicles")
        services.vehicle_delete(actor=request.user, vehicle=vehicle)
        return Response(status=status.HTTP_204_NO_CONTENT)
