"""The built-in protocols (CLINICAL.md section 1), shipped as editable data."""

from decimal import Decimal

from django.db import migrations

IV = dict(
    drug="ketamine",
    route="iv",
    session_minutes=120,
    min_observation_minutes=60,
    min_gap_hours=48,
    fasting_food_minutes=360,
    fasting_liquids_minutes=120,
    dose_mg_per_kg=Decimal("0.50"),
    dose_mg_per_kg_min=Decimal("0.10"),
    dose_mg_per_kg_max=Decimal("1.00"),
    infusion_minutes=40,
)
ESKETAMINE = dict(
    drug="esketamine",
    route="intranasal",
    session_minutes=150,
    min_observation_minutes=120,
    min_gap_hours=48,
    fasting_food_minutes=120,
    fasting_liquids_minutes=30,
    device_mg=28,
    dose_mg_min=56,
    dose_mg_max=84,
    first_dose_mg=56,
    device_interval_minutes=5,
)

# (code, name, description, settings, phases: (name, sessions, unit, every, periods|None))
PROTOCOLS = [
    (
        "iv-standard",
        "IV ketamine, standard course",
        "Week 1: one infusion; week 2: two; weeks 3-5: one a week; then monthly maintenance.",
        IV,
        [
            ("Week 1", 1, "week", 1, 1),
            ("Week 2", 2, "week", 1, 1),
            ("Weeks 3-5", 1, "week", 1, 3),
            ("Maintenance", 1, "month", 1, None),
        ],
    ),
    (
        "iv-six-in-twelve",
        "IV ketamine, six in twelve days",
        "Up to six infusions, three a week, over twelve days (Murrough et al. 2013).",
        IV,
        [("Induction", 3, "week", 1, 2)],
    ),
    (
        "esketamine-trd",
        "Esketamine, treatment-resistant depression",
        "Weeks 1-4 twice a week; weeks 5-8 weekly; then every 2 weeks (Spravato label).",
        ESKETAMINE,
        [
            ("Induction", 2, "week", 1, 4),
            ("Optimisation", 1, "week", 1, 4),
            ("Maintenance", 1, "week", 2, None),
        ],
    ),
    (
        "esketamine-mdsi",
        "Esketamine, depression with acute suicidal ideation",
        "Twice a week for 4 weeks (Spravato label).",
        ESKETAMINE,
        [("Treatment", 2, "week", 1, 4)],
    ),
]


def create(apps, schema_editor):
    Protocol = apps.get_model("scheduling", "Protocol")
    ProtocolPhase = apps.get_model("scheduling", "ProtocolPhase")
    for code, name, description, settings, phases in PROTOCOLS:
        protocol, created = Protocol.objects.get_or_create(
            clinic=None, code=code, defaults=dict(name=name, description=description, **settings)
        )
        if not created:
            continue
        for order, (phase_name, sessions, unit, every, periods) in enumerate(phases, start=1):
            ProtocolPhase.objects.create(
                protocol=protocol,
                order=order,
                name=phase_name,
                sessions_per_period=sessions,
                period_unit=unit,
                period_length=every,
                periods=periods,
            )


def remove(apps, schema_editor):
    Protocol = apps.get_model("scheduling", "Protocol")
    Protocol.objects.filter(clinic=None, code__in=[p[0] for p in PROTOCOLS]).delete()


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
