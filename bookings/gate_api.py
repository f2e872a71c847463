"""Scan API for handheld scanners, and the sync of scans made offline by the gate page."""

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from bookings import gate
from bookings.models import BookingStatus
from bookings.services import port_zone
from declarations.models import RiskChannel
from portal.api import APIView
from portal.models import Port

RESULTS = [("admit", "admit"), ("refuse", "refuse")]


@extend_schema_field({"type": "string", "pattern": "^(admit|refuse)$"})
class OfflineResultField(serializers.ChoiceField):
    """admit or refuse. Not an enum in the schema: the schema's enums are named after their
    fields, and one choice set under two names ("result") is a warning."""

    def __init__(self, **kwargs):
        super().__init__(choices=RESULTS, **kwargs)


class GateApiView(APIView):
    """Staff with two-factor authentication and the scan permission, as on the gate page."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        user = request.user
        if not gate.scanner_ports(user):
            raise PermissionDenied(_("You cannot scan passes."))
        if not gate.scanner_has_mfa(user):
            raise PermissionDenied(_("Set up two-factor authentication before using the gate scanner."))

    def port(self, code: str) -> Port:
        """The port the scan is for: one of the officer's (no query), else 403 for a port
        that is not theirs, or the field error for one that does not exist."""
        port = gate.scanner_port(self.request.user, code)
        if port is None:
            port = Port.objects.filter(code=code).first()
            if port is None:
                message = serializers.SlugRelatedField.default_error_messages["does_not_exist"]
                raise ValidationError(
                    {"port": [message.format(slug_name="code", value=code)]}, code="does_not_exist"
                )
            gate.require_scanner(self.request.user, port)
        return port


class BookingSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BookingStatus.choices)
    plate = serializers.CharField()
    trailer_plate = serializers.CharField()
    driver = serializers.CharField()
    declaration = serializers.CharField(help_text="The declaration's reference")
    declaration_status = serializers.CharField(help_text="In the caller's language")
    direction = serializers.CharField(help_text="In the caller's language")
    cargo = serializers.CharField(help_text="The cargo category, in the caller's language")
    goods = serializers.CharField(help_text="HS codes and descriptions of the first goods items")
    channel = serializers.ChoiceField(choices=RiskChannel.choices, allow_blank=True)
    channel_label = serializers.CharField()
    slot_start = serializers.DateTimeField()
    slot_end = serializers.DateTimeField()
    lane = serializers.CharField()
    checked_in_at = serializers.DateTimeField(allow_null=True)


class ScanOutput(serializers.Serializer):
    result = serializers.ChoiceField(choices=RESULTS)
    reason = serializers.CharField(help_text="Empty when admitted; else a stable code, e.g. already_used")
    message = serializers.CharField(help_text="The reason in the caller's language")
    offline = serializers.BooleanField()
    used_twice = serializers.BooleanField()
    replayed = serializers.BooleanField(help_text="This client nonce was recorded before: the first answer")
    event = serializers.IntegerField()
    scanned_at = serializers.DateTimeField()
    booking = BookingSummaryOutput(allow_null=True)
    next_steps = serializers.ListField(
        child=serializers.CharField(), help_text="What may be recorded next here: release, hold, exit"
    )


def _output(result: gate.ScanResult, port: Port) -> dict:
    booking = result.booking if result.booking is not None and result.booking.port_id == port.pk else None
    return {
        "result": "admit" if result.admitted else "refuse",
        "reason": result.reason,
        "message": result.message,
        "offline": result.offline,
        "used_twice": result.used_twice,
        "replayed": result.replayed,
        "event": result.event.pk,
        "scanned_at": result.event.scanned_at,
        "booking": gate.booking_summary(booking) if booking else None,
        "next_steps": gate.next_steps(booking, port),
    }


class ScanInput(serializers.Serializer):
    port = serializers.CharField(max_length=10, help_text="The port's code, e.g. KHG")
    text = serializers.CharField(max_length=400, help_text="The scanned token or the typed short code")
    client_nonce = serializers.CharField(
        max_length=64, help_text="Chosen by the scanner, new for each scan: a retry with it is recorded once"
    )
    plate = serializers.CharField(
        max_length=20, required=False, allow_blank=True, default="", help_text="The plate the officer sees"
    )


class ScanApi(GateApiView):
    @extend_schema(request=ScanInput, responses=ScanOutput, operation_id="gate_scan")
    def post(self, request):
        data = ScanInput(data=request.data)
        data.is_valid(raise_exception=True)
        port = self.port(data.validated_data["port"])
        result = gate.scan(
            officer=request.user,
            port=port,
            text=data.validated_data["text"],
            client_nonce=data.validated_data["client_nonce"],
            plate_seen=data.validated_data["plate"],
        )
        with timezone.override(port_zone(port)):
            return Response(ScanOutput(_output(result, port)).data)


class OfflineScanInput(serializers.Serializer):
    client_nonce = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=400)
    scanned_at = serializers.DateTimeField(help_text="The scanner's clock")
    offline_result = OfflineResultField(help_text="What the scanner decided: admit or refuse")
    reason = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", help_text="The scanner's refusal code"
    )


class SyncInput(serializers.Serializer):
    port = serializers.CharField(max_length=10, help_text="The port's code, e.g. KHG")
    scans = OfflineScanInput(many=True, max_length=500)


class SyncResultOutput(serializers.Serializer):
    client_nonce = serializers.CharField()
    result = serializers.ChoiceField(choices=RESULTS, help_text="As recorded")
    reason = serializers.CharField()
    used_twice = serializers.BooleanField()
    replayed = serializers.BooleanField(help_text="Sent before: recorded then")
    event = serializers.IntegerField()


class SyncOutput(serializers.Serializer):
    results = SyncResultOutput(many=True)


class SyncApi(GateApiView):
    @extend_schema(request=SyncInput, responses=SyncOutput, operation_id="gate_scans_sync")
    def post(self, request):
        data = SyncInput(data=request.data)
        data.is_valid(raise_exception=True)
        port = self.port(data.validated_data["port"])
        results = []
        for scan in data.validated_data["scans"]:
            result = gate.scan(
                officer=request.user,
                port=port,
                text=scan["token"],
                client_nonce=scan["client_nonce"],
                scanned_at=scan["scanned_at"],
                offline=True,
                offline_result=scan["offline_result"],
                offline_reason=scan["reason"],
            )
            results.append(
                {
                    "client_nonce": scan["client_nonce"],
                    "result": "admit" if result.admitted else "refuse",
                    "reason": result.reason,
                    "used_twice": result.used_twice,
                    "replayed": result.replayed,
                    "event": result.event.pk,
                }
            )
        return Response(SyncOutput({"results": results}).data)
