from django.db import migrations
from django.utils.translation import gettext_noop

# order, name, conditions, channel, reason, target minutes, priority
RULES = [
    (10, "Dangerous goods", {"cargo_category": "dangerous"}, "red", gettext_noop("Dangerous goods"), None, False),
    (20, "Arms and ammunition", {"hs_chapter": "93"}, "red", gettext_noop("Arms and ammunition (HS chapter 93)"), None, False),
    (30, "Firm's record", {"firm_rejected_at_least": 2}, "red", gettext_noop("The firm had declarations rejected recently"), None, False),
    (40, "Documents missing", {"documents_missing": True}, "yellow", gettext_noop("Required documents are missing"), None, False),
    (50, "New firm", {"firm_accepted_fewer_than": 3}, "yellow", gettext_noop("One of the firm's first declarations"), None, False),
    (60, "Agricultural produce", {"cargo_category": "agricultural"}, "green",
     gettext_noop("Agricultural produce: green channel, 30-minute review"), 30, True),
    (70, "Energy cargo", {"cargo_category": "energy"}, "green", gettext_noop("Energy cargo: priority lane"), None, True),
    (80, "Vehicles for export", {"cargo_category": "vehicles", "direction": "export"}, "green",
     gettext_noop("Complete vehicles for export: inspected on arrival"), None, False),
]


def add_rules(apps, schema_editor):
    RiskRule = apps.get_model("declarations", "RiskRule")
    PortPolicy = apps.get_model("declarations", "PortPolicy")
    Port = apps.get_model("portal", "Port")
    for order, name, conditions, channel, reason, target, priority in RULES:
        RiskRule.objects.get_or_create(
            name=name,
            defaults={"order": order, "channel": channel, "reason": reason, "review_target_minutes": target,
                      "priority": priority, **conditions},
        )
    for port in Port.objects.all():
        PortPolicy.objects.get_or_create(port=port)


class Migration(migrations.Migration):
    dependencies = [("declarations", "0001_initial"), ("portal", "0002_ports")]
    operations = [migrations.RunPython(add_rules, migrations.RunPython.noop)]
