"""The built-in data (protocols, the contraindication checklist and their links) put
back when a database has been emptied.

The data migrations ship this data once. A flush (which is what a test that commits
leaves behind it) empties every table and then sends post_migrate, like Django's own
sites framework: we answer it by putting the built-ins back, but only into a database
that has none at all, so a clinic's own edits and retirements are never undone.
"""

import importlib

from django.apps import apps as global_apps

# Every data migration that writes the built-ins, in order: a later one corrects an
# earlier one's data (0014: MDSI 84 mg from the first dose; 0016: the vitals schedules;
# 0019: no weight for esketamine), so replaying only the first would bring back its errors.
_STEPS = [
    ("patients.migrations.0003_contraindication_checklist", "create"),
    ("scheduling.migrations.0002_builtin_protocols", "create"),
    ("scheduling.migrations.0004_protocol_contraindications", "link"),
    ("scheduling.migrations.0014_first_dose_65_and_mdsi_84", "mdsi_84_from_the_first_dose"),
    ("scheduling.migrations.0016_protocol_vitals_schedule", "schedules"),
    ("scheduling.migrations.0019_esketamine_no_weight", "esketamine_no_weight"),
]


def builtin_data_ensure(sender=None, apps=global_apps, **kwargs) -> None:
    try:
        Protocol = apps.get_model("scheduling", "Protocol")
        Contraindication = apps.get_model("patients", "Contraindication")
    except LookupError:  # a migration state before these models exist
        return
    if Protocol.objects.filter(clinic=None).exists() or Contraindication.objects.exists():
        return
    for module, function in _STEPS:
        getattr(importlib.import_module(module), function)(apps, None)
