from django.db import migrations

PORTS = [
    # code, en, zh-hans, ru, kk, mn, neighbour, 24h
    ("KHG", "Khorgos", "霍尔果斯", "Хоргос", "Қорғас", "Хоргос", "KZ", True),
    ("ALA", "Alashankou", "阿拉山口", "Алашанькоу", "Алашанькоу", "Алашанькоу", "KZ", False),
    ("BKT", "Bakhty", "巴克图", "Бахты", "Бақты", "Бахты", "KZ", False),
    ("TKS", "Takshken", "塔克什肯", "Такешикен", "Такешикен", "Тахшикэн", "MN", False),
    ("KHJ", "Khunjerab", "红其拉甫", "Хунджераб", "Хунжераб", "Хунжераб", "PK", False),
]


def add_ports(apps, schema_editor):
    Port = apps.get_model("portal", "Port")
    for code, en, zh, ru, kk, mn, neighbour, open_24h in PORTS:
        Port.objects.update_or_create(
            code=code,
            defaults={
                "name_en": en, "name_zh_hans": zh, "name_ru": ru, "name_kk": kk, "name_mn": mn,
                "neighbour_country": neighbour, "time_zone": "Asia/Shanghai", "open_24h": open_24h,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]
    operations = [migrations.RunPython(add_ports, migrations.RunPython.noop)]
