"""REST API for bookings: free places, book, move, cancel, the pass as SVG or PNG.

The same services, selectors and permissions as the pages: outsiders get 404, a role that
may see but not book gets 403, a refused booking 400 with a stable code.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from bookings import passes, qr, selectors, services
from bookings.models import Booking, BookingStatus, Lane, LaneDirection, LaneType, Slot
from declarations import selectors as declaration_selectors
from portal.api import APIView
from portal.errors import ApplicationError
from portal.models import Port
from portal.permissions import firm_access

# --- output


class LaneOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=LaneType.choices)
    direction = serializers.ChoiceField(choices=LaneDirection.choices)


class CellOutput(serializers.Serializer):
    id = serializers.IntegerField(source="slot.pk")
    starts_at = serializers.DateTimeField(source="slot.starts_at")
    ends_at = serializers.DateTimeField(source="slot.ends_at")
    capacity = serializers.IntegerField(source="slot.capacity")
    free = serializers.IntegerField()
    bookable = serializers.BooleanField(
        help_text="Free, and not begun, past the cut-off or beyond the window"
    )


class LaneDayOutput(serializers.Serializer):
    lane = LaneOutput()
    slots = CellOutput(many=True, source="cells")


class AvailabilityOutput(serializers.Serializer):
    port = serializers.CharField(source="port.code")
    time_zone = serializers.CharField(source="port.time_zone", help_text="The port's IANA time zone")
    day = serializers.DateField(help_text="In the port's time zone")
    lanes = LaneDayOutput(many=True)


class SlotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    lane = LaneOutput()


class PassOutput(serializers.Serializer):
    short_code = serializers.SerializerMethodField(
        help_text="As read aloud or typed at the gate: ABCDE-23456"
    )
    token = serializers.CharField(help_text="What the QR code holds")
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    svg_url = serializers.SerializerMethodField()
    png_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    def get_short_code(self, obj) -> str:
        return passes.format_short_code(obj.short_code)

    def get_svg_url(self, obj) -> str:
        return reverse("api:booking_pass_svg", args=[obj.booking_id])

    def get_png_url(self, obj) -> str:
        return reverse("api:booking_pass_png", args=[obj.booking_id])

    def get_page_url(self, obj) -> str:
        return reverse("bookings:pass", args=[obj.booking_id])


class BookingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BookingStatus.choices)
    port = serializers.CharField(source="port.code")
    firm = serializers.IntegerField(source="organisation_id")
    declaration = serializers.IntegerField(source="declaration_id")
    declaration_reference = serializers.CharField(source="declaration.reference")
    vehicle = serializers.IntegerField(source="vehicle_id")
    plate = serializers.CharField(source="vehicle.plate")
    driver = serializers.IntegerField(source="driver_id", allow_null=True)
    slot = SlotOutput()
    live_pass = PassOutput(allow_null=True, help_text="The pass to show at the gate; null once cancelled")
    created_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)


def _with_live_pass(booking: Booking) -> Booking:
    if not booking.is_holding:
        booking.live_pass = None
    elif "live_pass" in booking.__dict__:  # just issued by the service
        pass
    elif hasattr(booking, "live_passes"):  # prefetched by the list's selector
        booking.live_pass = booking.live_passes[0] if booking.live_passes else None
    else:
        booking.live_pass = services.live_pass(booking)
    return booking


def _booking(booking: Booking) -> dict:
    return BookingOutput(_with_live_pass(booking)).data


def _fresh(request, pk) -> dict:
    return _booking(selectors.booking_for(request.user, pk))


# --- input


class BookingInput(serializers.Serializer):
    declaration = serializers.IntegerField()
    # An id, read by the service with what it needs (lane, port, policy) in one query.
    slot = serializers.IntegerField(min_value=1)


class MoveInput(serializers.Serializer):
    slot = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.all())


def _day(port: Port, text: str | None):
    if not text:
        return selectors.port_today(port)
    day = selectors.parse_day(port, text)
    if day is None:
        days = selectors.bookable_days(port)
        raise ApplicationError(
            _("Choose a day from %(first)s to %(last)s (YYYY-MM-DD, port time).")
            % {"first": days[0].isoformat(), "last": days[-1].isoformat()},
            "bad_day",
            {"first": days[0].isoformat(), "last": days[-1].isoformat()},
        )
    return day


def _availability(port: Port, lanes: list[Lane], day) -> dict:
    return AvailabilityOutput(
        {"port": port, "day": day, "lanes": selectors.availability(port, lanes, day)}
    ).data


DAY = OpenApiParameter(
    "day",
    OpenApiTypes.DATE,
    required=False,
    description="A day of the booking window, port time; today if none",
)


# --- endpoints


class PortAvailabilityApi(APIView):
    @extend_schema(
        parameters=[
            DAY,
            OpenApiParameter("lane", OpenApiTypes.INT, required=False, description="One lane's id"),
        ],
        responses=AvailabilityOutput,
        operation_id="availability_port",
    )
    def get(self, request, code):
        port = get_object_or_404(Port, code=code.upper())
        day = _day(port, request.query_params.get("day"))
        lanes = list(Lane.objects.filter(port=port, active=True))
        wanted = request.query_params.get("lane")
        if wanted:
            lanes = [lane for lane in lanes if str(lane.pk) == wanted]
            if not lanes:
                raise ApplicationError(_("This port has no such open lane."), "bad_lane")
        return Response(_availability(port, lanes, day))


class DeclarationAvailabilityApi(APIView):
    @extend_schema(parameters=[DAY], responses=AvailabilityOutput, operation_id="availability_declaration")
    def get(self, request, pk):
        declaration = declaration_selectors.declaration_for(request.user, pk)
        port = declaration.port
        day = _day(port, request.query_params.get("day"))
        return Response(_availability(port, services.lanes_for(declaration), day))


class BookingCreateApi(APIView):
    @extend_schema(request=BookingInput, responses={201: BookingOutput}, operation_id="bookings_create")
    def post(self, request):
        data = BookingInput(data=request.data)
        data.is_valid(raise_exception=True)
        declaration = declaration_selectors.declaration_for(
            request.user, data.validated_data["declaration"], related=("vehicle", "driver")
        )
        try:
            booking = services.booking_create(
                actor=request.user, declaration=declaration, slot=data.validated_data["slot"]
            )
        except Slot.DoesNotExist:
            message = serializers.PrimaryKeyRelatedField.default_error_messages["does_not_exist"]
            raise exceptions.ValidationError(
                {"slot": [message.format(pk_value=data.validated_data["slot"])]}, code="does_not_exist"
            ) from None
        # What the service wrote and read is the answer: no need to read it all again.
        return Response(_booking(booking), status=status.HTTP_201_CREATED)


class FirmBookingListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", enum=BookingStatus.values, required=False)],
        responses=BookingOutput(many=True),
        operation_id="bookings_list",
    )
    def get(self, request, firm_id):
        access = firm_access(request.user, firm_id)
        access.require("view")
        wanted = request.query_params.get("status", "")
        bookings = selectors.bookings_of(
            access.organisation, status=wanted if wanted in BookingStatus.values else ""
        )
        return Response([_booking(booking) for booking in bookings[:500]])


class BookingDetailApi(APIView):
    @extend_schema(responses=BookingOutput, operation_id="bookings_retrieve")
    def get(self, request, pk):
        return Response(_fresh(request, pk))


class BookingMoveApi(APIView):
    @extend_schema(request=MoveInput, responses=BookingOutput, operation_id="bookings_move")
    def post(self, request, pk):
        booking = selectors.booking_for(request.user, pk)
        data = MoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.booking_move(actor=request.user, booking=booking, slot=data.validated_data["slot"])
        return Response(_fresh(request, pk))


class BookingCancelApi(APIView):
    @extend_schema(request=None, responses=BookingOutput, operation_id="bookings_cancel")
    def post(self, request, pk):
        booking = selectors.booking_for(request.user, pk)
        services.booking_cancel(actor=request.user, booking=booking)
        return Response(_fresh(request, pk))


class _PassImageApi(APIView):
    """The image whatever the Accept header asks for; errors in the one JSON shape."""

    def perform_content_negotiation(self, request, force=False):
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def _token(self, request, pk) -> str:
        booking = selectors.booking_for(request.user, pk)
        live = services.live_pass(booking) if booking.is_holding else None
        if live is None:
            raise exceptions.NotFound(_("This booking has no valid pass."))
        return live.token

    def _image(self, body, content_type: str) -> HttpResponse:
        response = HttpResponse(body, content_type=content_type)
        response["Cache-Control"] = "private, no-cache"
        return response


class PassSvgApi(_PassImageApi):
    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.STR}, operation_id="bookings_pass_svg")
    def get(self, request, pk):
        return self._image(qr.svg(self._token(request, pk)), "image/svg+xml")


class PassPngApi(_PassImageApi):
    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY}, operation_id="bookings_pass_png")
    def get(self, request, pk):
        return self._image(qr.png(self._token(request, pk)), "image/png")
