"""Which screening checklist items apply to which protocol, and the built-in links.

Every shipped item applies to all four built-in protocols, except the Spravato-label
items (aneurysmal vascular disease or AVM, intracerebral haemorrhage), which apply to
the two esketamine protocols only. The codes are repeated here rather than imported,
so this migration keeps working whatever patients 0003 becomes.
"""

from django.db import migrations, models

IV = ["iv-standard", "iv-six-in-twelve"]
ESKETAMINE = ["esketamine-trd", "esketamine-mdsi"]
ESKETAMINE_ONLY = ["aneurysmal-vascular-disease-or-avm", "intracerebral-haemorrhage-history"]
SHIPPED = [
    "active-psychosis-or-mania",
    "uncontrolled-hypertension",
    "active-internal-bleeding",
    "pregnancy-or-breastfeeding",
    "under-18",
    "aneurysmal-vascular-disease-or-avm",
    "intracerebral-haemorrhage-history",
    "ketamine-hypersensitivity",
    "psychosis-history",
    "cardiovascular-disease",
    "thyroid-disease",
    "liver-or-kidney-disease",
    "glaucoma",
    "substance-use-disorder",
    "sedating-medications",
    "stimulant-or-maoi-medications",
]


def link(apps, schema_editor):
    Protocol = apps.get_model("scheduling", "Protocol")
    Contraindication = apps.get_model("patients", "Contraindication")
    items = list(Contraindication.objects.filter(code__in=SHIPPED))
    for protocol in Protocol.objects.filter(clinic=None, code__in=IV + ESKETAMINE):
        applies = [
            item
            for item in items
            if protocol.code in ESKETAMINE or item.code not in ESKETAMINE_ONLY
        ]
        protocol.contraindications.add(*applies)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0003_contraindication_checklist"),
        ("scheduling", "0003_session_no_overlap"),
    ]

    operations = [
        migrations.AddField(
            model_name="protocol",
            name="contraindications",
            field=models.ManyToManyField(
                blank=True,
                help_text="Checklist items that apply to this protocol; a finding on another "
                "item does not stop a course of it.",
                related_name="protocols",
                to="patients.contraindication",
            ),
        ),
        # Backward: removing the field drops the links with it.
        migrations.RunPython(link, migrations.RunPython.noop),
    ]
