import datetime

from django.db import migrations

# type, direction, name, trucks per slot (24-hour port, other ports)
LANES = [
    ("general", "inbound", "1", 12, 6),
    ("energy", "inbound", "2", 20, 12),
    ("green", "inbound", "3", 8, 4),
    ("empty_return", "inbound", "4", 10, 6),
    ("general", "outbound", "5", 10, 6),
    ("vehicle_export", "outbound", "6", 10, 4),
]


def add_plans(apps, schema_editor):
    """A starting plan per port, for its operators to adjust in the back office."""
    Port = apps.get_model("portal", "Port")
    Lane = apps.get_model("bookings", "Lane")
    OpeningHours = apps.get_model("bookings", "OpeningHours")
    BookingPolicy = apps.get_model("bookings", "BookingPolicy")
    for port in Port.objects.all():
        BookingPolicy.objects.get_or_create(port=port)
        if Lane.objects.filter(port=port).exists():
            continue
        for position, (kind, direction, name, big, small) in enumerate(LANES):
            Lane.objects.create(
                port=port,
                type=kind,
                direction=direction,
                name=name,
                capacity=big if port.open_24h else small,
                position=position,
            )
        if not port.open_24h:
            for weekday in range(7):
                OpeningHours.objects.create(
                    port=port, weekday=weekday, opens=datetime.time(8), closes=datetime.time(20)
                )


class Migration(migrations.Migration):
    dependencies = [("bookings", "0001_initial"), ("portal", "0002_ports")]

    operations = [migrations.RunPython(add_plans, migrations.RunPython.noop)]
