"""REST API for declarations: the same services, selectors and permissions as the pages."""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_countries.serializer_fields import CountryField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from declarations import selectors, services
from declarations.models import CargoCategory, Direction, DocumentKind, Mode, RiskChannel, Status, Unit
from declarations.risk import missing_documents
from declarations.views import document_response
from portal.api import APIView
from portal.models import Driver, Port, Vehicle
from portal.permissions import firm_access


class GoodsItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    hs_code = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    unit = serializers.ChoiceField(choices=Unit.choices)
    gross_kg = serializers.DecimalField(max_digits=12, decimal_places=3)
    net_kg = serializers.DecimalField(max_digits=12, decimal_places=3)
    value = serializers.DecimalField(max_digits=16, decimal_places=2)
    currency = serializers.CharField()
    origin_country = CountryField()


class GoodsItemInput(serializers.Serializer):
    """Checked by the service (HS table, net ≤ gross, ranges, currency, country)."""

    hs_code = serializers.CharField(max_length=14, help_text="6 to 10 digits; dots and spaces are ignored")
    description = serializers.CharField(max_length=300)
    quantity = serializers.DecimalField(max_digits=16, decimal_places=3)
    unit = serializers.ChoiceField(choices=Unit.choices)
    gross_kg = serializers.DecimalField(max_digits=16, decimal_places=3)
    net_kg = serializers.DecimalField(max_digits=16, decimal_places=3)
    value = serializers.DecimalField(max_digits=18, decimal_places=2)
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. CNY, KZT, USD")
    origin_country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    original_name = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    def get_url(self, obj) -> str:
        return reverse("api:declaration_document_file", args=[obj.declaration_id, obj.pk])


class DocumentInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    file = serializers.FileField(
        help_text="PDF, JPEG, PNG or HEIC (checked by content), at most 10 MB", use_url=False
    )


class DeclarationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    firm = serializers.IntegerField(source="organisation_id")
    port = serializers.CharField(source="port.code")
    direction = serializers.ChoiceField(choices=Direction.choices)
    mode = serializers.ChoiceField(choices=Mode.choices)
    cargo_category = serializers.ChoiceField(choices=CargoCategory.choices)
    vehicle = serializers.IntegerField(source="vehicle_id", allow_null=True)
    plate = serializers.CharField(source="vehicle.plate", allow_null=True, default=None)
    driver = serializers.IntegerField(source="driver_id", allow_null=True)
    planned_arrival = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=Status.choices)
    channel = serializers.ChoiceField(choices=RiskChannel.choices, allow_blank=True)
    channel_reasons = serializers.ListField(child=serializers.CharField())
    priority = serializers.BooleanField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    review_due_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    is_overdue = serializers.BooleanField()
    copied_from = serializers.IntegerField(source="copied_from_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DeclarationDetailOutput(DeclarationOutput):
    goods = GoodsItemOutput(many=True, source="goods.all")
    documents = DocumentOutput(many=True, source="documents.all")
    missing_documents = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField(help_text="What stops the declaration from being submitted")

    def get_missing_documents(self, obj) -> list[str]:
        return sorted(missing_documents(obj))

    def get_problems(self, obj) -> list[str]:
        return [str(p) for p in services.submission_problems(obj)] if obj.is_editable else []


class DeclarationInput(serializers.Serializer):
    port = serializers.SlugRelatedField(slug_field="code", queryset=Port.objects.all(), help_text="e.g. KHG")
    direction = serializers.ChoiceField(choices=Direction.choices)
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.LOCAL)
    cargo_category = serializers.ChoiceField(choices=CargoCategory.choices)
    vehicle = serializers.PrimaryKeyRelatedField(
        queryset=Vehicle.objects.none(),
        allow_null=True,
        required=False,
        default=None,
        error_messages={"does_not_exist": _("This vehicle is not one of the firm's.")},
    )
    driver = serializers.PrimaryKeyRelatedField(
        queryset=Driver.objects.none(),
        allow_null=True,
        required=False,
        default=None,
        error_messages={"does_not_exist": _("This driver does not drive for the firm.")},
    )
    planned_arrival = serializers.DateTimeField(allow_null=True, required=False, default=None)

    def __init__(self, *args, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organisation is None:  # the schema generator's instance
            return
        # Another firm's vehicle or driver is refused like one that does not exist.
        self.fields["vehicle"].queryset = Vehicle.objects.filter(organisation=organisation)
        self.fields["driver"].queryset = Driver.objects.filter(firm_links__organisation=organisation)


class CommentInput(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.display_name", allow_null=True, default=None)
    from_status = serializers.ChoiceField(choices=Status.choices, allow_blank=True)
    to_status = serializers.ChoiceField(choices=Status.choices)
    comment = serializers.CharField()


def _detail(pk) -> DeclarationDetailOutput:
    declaration = selectors.declaration_detail(pk)
    return DeclarationDetailOutput(declaration)


class DeclarationListApi(APIView):
    @extend_schema(
        responses=DeclarationOutput(many=True),
        parameters=[OpenApiParameter("status", enum=Status.values, required=False)],
        operation_id="declarations_list",
    )
    def get(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("view_declarations")
        wanted = request.query_params.get("status", "")
        declarations = selectors.declarations_of(
            access.organisation, status=wanted if wanted in Status.values else ""
        )
        return Response(DeclarationOutput(declarations[:500], many=True).data)

    @extend_schema(
        request=DeclarationInput, responses={201: DeclarationDetailOutput}, operation_id="declarations_create"
    )
    def post(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("declare")
        data = DeclarationInput(data=request.data, organisation=access.organisation)
        data.is_valid(raise_exception=True)
        declaration = services.declaration_create(
            actor=request.user, organisation=access.organisation, **data.validated_data
        )
        return Response(_detail(declaration.pk).data, status=status.HTTP_201_CREATED)


class DeclarationDetailApi(APIView):
    @extend_schema(responses=DeclarationDetailOutput, operation_id="declarations_retrieve")
    def get(self, request, pk):
        selectors.declaration_for(request.user, pk)
        return Response(_detail(pk).data)

    @extend_schema(
        request=DeclarationInput, responses=DeclarationDetailOutput, operation_id="declarations_update"
    )
    def put(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        data = DeclarationInput(data=request.data, organisation=declaration.organisation)
        data.is_valid(raise_exception=True)
        services.declaration_update(actor=request.user, declaration=declaration, **data.validated_data)
        return Response(_detail(pk).data)


class GoodsListApi(APIView):
    @extend_schema(responses=GoodsItemOutput(many=True), operation_id="declaration_goods_list")
    def get(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk)
        return Response(GoodsItemOutput(declaration.goods.all(), many=True).data)

    @extend_schema(
        request=GoodsItemInput, responses={201: GoodsItemOutput}, operation_id="declaration_goods_create"
    )
    def post(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        data = GoodsItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.goods_add(actor=request.user, declaration=declaration, **data.validated_data)
        return Response(GoodsItemOutput(item).data, status=status.HTTP_201_CREATED)


class GoodsDetailApi(APIView):
    def _item(self, request, pk, item_id):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        return get_object_or_404(declaration.goods.select_related("declaration"), pk=item_id)

    @extend_schema(request=GoodsItemInput, responses=GoodsItemOutput, operation_id="declaration_goods_update")
    def put(self, request, pk, item_id):
        item = self._item(request, pk, item_id)
        data = GoodsItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.goods_update(actor=request.user, item=item, **data.validated_data)
        return Response(GoodsItemOutput(item).data)

    @extend_schema(responses={204: None}, operation_id="declaration_goods_destroy")
    def delete(self, request, pk, item_id):
        services.goods_delete(actor=request.user, item=self._item(request, pk, item_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=DocumentOutput(many=True), operation_id="declaration_documents_list")
    def get(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk)
        return Response(DocumentOutput(declaration.documents.all(), many=True).data)

    @extend_schema(
        request={"multipart/form-data": DocumentInput},
        responses={201: DocumentOutput},
        operation_id="declaration_documents_create",
    )
    def post(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        data = DocumentInput(data=request.data)
        data.is_valid(raise_exception=True)
        document = services.document_add(
            actor=request.user,
            declaration=declaration,
            kind=data.validated_data["kind"],
            upload=data.validated_data["file"],
        )
        return Response(DocumentOutput(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailApi(APIView):
    @extend_schema(responses={204: None}, operation_id="declaration_documents_destroy")
    def delete(self, request, pk, document_id):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        document = get_object_or_404(declaration.documents.select_related("declaration"), pk=document_id)
        services.document_delete(actor=request.user, document=document)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentFileApi(APIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        operation_id="declaration_documents_file",
    )
    def get(self, request, pk, document_id):
        declaration = selectors.declaration_for(request.user, pk)
        return document_response(get_object_or_404(declaration.documents, pk=document_id))


class SubmitApi(APIView):
    @extend_schema(request=None, responses=DeclarationDetailOutput, operation_id="declarations_submit")
    def post(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        services.declaration_submit(actor=request.user, declaration=declaration)
        return Response(_detail(pk).data)


class WithdrawApi(APIView):
    @extend_schema(
        request=CommentInput, responses=DeclarationDetailOutput, operation_id="declarations_withdraw"
    )
    def post(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        data = CommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.declaration_withdraw(actor=request.user, declaration=declaration, **data.validated_data)
        return Response(_detail(pk).data)


class CopyApi(APIView):
    @extend_schema(request=None, responses={201: DeclarationDetailOutput}, operation_id="declarations_copy")
    def post(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk, write=True)
        copy = services.declaration_copy(actor=request.user, declaration=declaration)
        return Response(_detail(copy.pk).data, status=status.HTTP_201_CREATED)


class HistoryApi(APIView):
    @extend_schema(responses=EventOutput(many=True), operation_id="declarations_history")
    def get(self, request, pk):
        declaration = selectors.declaration_for(request.user, pk)
        return Response(EventOutput(declaration.events.select_related("actor"), many=True).data)
