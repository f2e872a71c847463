"""Demo firms, people, vehicles, officers, and a booked declaration with a pass. Running it
twice changes nothing."""

from datetime import datetime, time, timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bookings import passes
from bookings import services as booking_services
from bookings.models import HOLDING, Booking, Slot
from declarations import services as declaration_services
from declarations.models import Declaration
from declarations.models import Status as DeclarationStatus
from portal import roles
from portal.models import Driver, FirmDriver, Membership, Organisation, Port, Role, User, Vehicle
from portal.plates import plate_normalise

DEMO_PASSWORD = "landport-demo"
# Base32 secret of every demo officer's authenticator; add it to any TOTP app.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

FIRMS = [
    {
        "name": "Silk Road Logistics",
        "kind": "logistics",
        "country": "KZ",
        "registration_number": "040840000550",
    },
    {
        "name": "Tianshan Freight",
        "kind": "exporter",
        "country": "CN",
        "registration_number": "91110000600037341L",
    },
]

PEOPLE = [
    # phone, email, name, language, firm index, role or "driver"
    ("+77010000001", "admin@silkroad.example", "Aigerim Nurlanova", "kk", 0, Role.ADMIN),
    ("+77010000002", "declarant@silkroad.example", "Dmitry Sokolov", "ru", 0, Role.DECLARANT),
    ("+77010000003", "dispatch@silkroad.example", "Yerlan Bekov", "kk", 0, Role.DISPATCHER),
    ("+77010000004", None, "Nurlan Serikov", "kk", 0, "driver"),
    ("+97699110005", None, "Bat-Erdene Ganbold", "mn", 0, "driver"),
    ("+8613800138006", "admin@tianshan.example", "Wang Li", "zh-hans", 1, Role.ADMIN),
    ("+8613800138007", None, "Zhang Wei", "zh-hans", 1, "driver"),
]

VEHICLES = [
    (0, "123 ABA 01", "KZ", "tractor", "45 AB 01"),
    (0, "777 KZT 05", "KZ", "tanker", ""),
    (1, "新F 12345", "CN", "car_carrier", ""),
]

OFFICERS = [
    ("customs.khorgos@port.example", "Customs officer, Khorgos", roles.CUSTOMS_OFFICER, ["KHG"]),
    ("border.khorgos@port.example", "Border inspection, Khorgos", roles.BORDER_INSPECTION_OFFICER, ["KHG"]),
    ("customs.takshken@port.example", "Customs officer, Takshken", roles.CUSTOMS_OFFICER, ["TKS"]),
    ("operator.alashankou@port.example", "Port operator, Alashankou", roles.PORT_OPERATOR, ["ALA"]),
    (
        "supervisor@port.example",
        "Supervisor, all ports",
        roles.SUPERVISOR,
        ["KHG", "ALA", "BKT", "TKS", "KHJ"],
    ),
]

# The demo booking: Silk Road's coal truck at Khorgos, driven by Nurlan Serikov.
DEMO_BOOKING = {
    "port": "KHG",
    "plate": "123 ABA 01",
    "declarant": "declarant@silkroad.example",
    "dispatcher": "dispatch@silkroad.example",
    "driver_phone": "+77010000004",
    "officer": "customs.khorgos@port.example",
    "hour": 10,  # port time, tomorrow, or the first free slot after it
}
DEMO_GOODS = {
    "hs_code": "270112",
    "description": "Coking coal",
    "quantity": "40",
    "unit": "t",
    "gross_kg": "40500",
    "net_kg": "40000",
    "value": "5200",
    "currency": "USD",
    "origin_country": "KZ",
}
DEMO_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _user(*, email, phone, name, language, staff=False):
    lookup = {"email": email} if email else {"phone": phone}
    user, created = User.objects.get_or_create(
        **lookup,
        defaults={
            "phone": phone,
            "phone_verified": bool(phone),
            "display_name": name,
            "language": language,
            "is_staff": staff,
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    if email:
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"primary": True, "verified": True}
        )
    return user


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")

    @transaction.atomic
    def handle(self, *args, quiet=False, **options):
        firms = []
        for data in FIRMS:
            firm, _created = Organisation.objects.get_or_create(
                country=data["country"],
                registration_number=data["registration_number"],
                defaults={"name": data["name"], "kind": data["kind"]},
            )
            firms.append(firm)
        Organisation.objects.filter(pk=firms[0].pk, verified_at__isnull=True).update(
            verified_at=firms[0].created_at
        )
        for phone, email, name, language, firm_index, role in PEOPLE:
            user = _user(email=email, phone=phone, name=name, language=language)
            if role == "driver":
                driver, _created = Driver.objects.get_or_create(
                    user=user,
                    defaults={
                        "licence_number": f"DL{phone[-6:]}",
                        "id_document_number": f"N{phone[-8:]}",
                        "nationality": phone_country(phone),
                    },
                )
                FirmDriver.objects.get_or_create(organisation=firms[firm_index], driver=driver)
            else:
                Membership.objects.get_or_create(
                    organisation=firms[firm_index], user=user, defaults={"role": role}
                )
        for firm_index, plate, country, kind, trailer in VEHICLES:
            Vehicle.objects.get_or_create(
                organisation=firms[firm_index],
                plate_normalised=plate_normalise(plate),
                defaults={"plate": plate, "country": country, "kind": kind, "trailer_plate": trailer},
            )
        for email, name, role, port_codes in OFFICERS:
            officer = _user(email=email, phone=None, name=name, language="zh-hans", staff=True)
            officer.groups.add(Group.objects.get(name=role))
            officer.ports.add(*Port.objects.filter(code__in=port_codes))
            if not Authenticator.objects.filter(user=officer, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(officer, DEMO_TOTP_SECRET)
                RecoveryCodes.activate(officer)
        booking = _demo_booking(firms[0])
        if not quiet:
            self._print_logins(booking)

    def _print_logins(self, booking):
        w = self.stdout.write
        w("")
        w(f"Landport demo logins (password for all: {DEMO_PASSWORD})")
        w("  Firm people sign in with phone + password, or phone + SMS code (printed by the worker below):")
        for phone, email, name, _language, firm_index, role in PEOPLE:
            label = role if role == "driver" else Role(role).label
            w(f"    {label:<11} {phone:<15} {email or '':<28} {name} ({FIRMS[firm_index]['name']})")
        w("  Officers sign in with email + password + TOTP code; they use /admin/:")
        for email, _name, role, ports in OFFICERS:
            w(f"    {role:<26} {email:<34} ports {','.join(ports)}")
        w(f"  TOTP secret of every demo officer: {DEMO_TOTP_SECRET}")
        w("    current code: .venv/bin/python manage.py demo_totp")
        live = booking_services.live_pass(booking)
        code = passes.format_short_code(live.short_code) if live else "—"
        w(
            f"  Demo pass of {booking.vehicle.plate} at {booking.port.name_en}, "
            f"{timezone.localtime(booking.slot.starts_at, booking_services.port_zone(booking.port)):%Y-%m-%d %H:%M} "
            f"port time, short code {code}:"
        )
        w(
            f"    {settings.SITE_URL}/bookings/{booking.pk}/pass/ (as the driver {DEMO_BOOKING['driver_phone']})"
        )
        w(f"  Open {settings.SITE_URL}/")
        w("")


def _demo_booking(firm: Organisation) -> Booking:
    """The demo truck's booking at Khorgos with a live pass: the one it holds, or a new one on
    its accepted declaration (filed, submitted and accepted here if there is none)."""
    port = Port.objects.get(code=DEMO_BOOKING["port"])
    vehicle = Vehicle.objects.get(organisation=firm, plate_normalised=plate_normalise(DEMO_BOOKING["plate"]))
    held = Booking.objects.filter(vehicle=vehicle, port=port, status__in=HOLDING).first()
    if held is not None:
        return held
    driver = Driver.objects.get(user__phone=DEMO_BOOKING["driver_phone"])
    declarant = User.objects.get(email=DEMO_BOOKING["declarant"])
    declaration = (
        Declaration.objects.filter(
            organisation=firm, port=port, vehicle=vehicle, status__in=booking_services.BOOKABLE_DECLARATIONS
        )
        .order_by("-pk")
        .first()
    )
    if declaration is None:
        declaration = declaration_services.declaration_create(
            actor=declarant,
            organisation=firm,
            port=port,
            direction="import",
            mode="local",
            cargo_category="energy",
            vehicle=vehicle,
            driver=driver,
            planned_arrival=timezone.now() + timedelta(days=1),
        )
        declaration_services.goods_add(actor=declarant, declaration=declaration, **DEMO_GOODS)
        for kind in ("invoice", "cmr"):
            declaration_services.document_add(
                actor=declarant,
                declaration=declaration,
                kind=kind,
                upload=SimpleUploadedFile(f"{kind}.pdf", DEMO_PDF),
            )
        declaration = declaration_services.declaration_submit(
            actor=declarant, declaration=declaration, sample_draw=99.9
        )
    if declaration.status != DeclarationStatus.ACCEPTED:
        declaration = declaration_services.declaration_accept(
            officer=User.objects.get(email=DEMO_BOOKING["officer"]), declaration=declaration
        )
    booking_services.slots_ensure_window(port)
    zone = booking_services.port_zone(port)
    tomorrow = timezone.localtime(timezone.now(), zone).date() + timedelta(days=1)
    slot = (
        Slot.objects.filter(
            lane__in=booking_services.lanes_for(declaration),
            starts_at__gte=datetime.combine(tomorrow, time(DEMO_BOOKING["hour"]), tzinfo=zone),
            booked__lt=F("capacity"),
        )
        .order_by("starts_at")
        .first()
    )
    return booking_services.booking_create(
        actor=User.objects.get(email=DEMO_BOOKING["dispatcher"]), declaration=declaration, slot=slot
    )


def phone_country(phone: str) -> str:
    import phonenumbers

    return phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or ""
