"""The built-in esketamine protocols no longer ask for the weight at check-in: esketamine
is dosed in devices, not by weight (CLINICAL.md section 2). A clinic's own protocols keep
what their clinic chose."""

from django.db import migrations


def esketamine_no_weight(apps, schema_editor):
    Protocol = apps.get_model("scheduling", "Protocol")
    Protocol.objects.filter(clinic=None, drug="esketamine", check_in_weight=True).update(
        check_in_weight=False
    )


def esketamine_weight(apps, schema_editor):
    Protocol = apps.get_model("scheduling", "Protocol")
    Protocol.objects.filter(clinic=None, drug="esketamine").update(check_in_weight=True)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0018_check_in_checklist_per_protocol_and_clinic_items")]

    operations = [migrations.RunPython(esketamine_no_weight, esketamine_weight)]
