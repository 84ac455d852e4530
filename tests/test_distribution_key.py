"""Every table of clinic data has a distribution key: a `clinic` column (docs/scaling.md).

A distributed PostgreSQL (Citus, distributed by clinic) needs the clinic on each row of a
table it spreads over its nodes. A model of our apps passes if it has a non-null foreign
key named `clinic` to clinic.Clinic; every other model is listed below with the reason,
and, where it holds a clinic's data, the path by which it reaches its clinic today. The
lists are checked too: a stale entry, or a path that no longer leads to a clinic, fails.

Django's own apps (auth, sessions, knox, axes, admin) are not walked: their rows
belong to users, who may work at several clinics (docs/scaling.md says where they go).
The history tables django-simple-history generates are not walked either: each copies
its model's fields, so a clinic key on the model is one on its history (checked below).
"""

import pytest
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from clinic.models import Clinic

APPS = ("clinic", "patients", "scheduling")

# Not clinic data, or not spread by clinic: small tables every clinic reads, which a
# distributed database copies to every node (Citus reference tables).
NOT_DISTRIBUTED = {
    "clinic.Clinic": "the clinic itself: its id is the key (a reference table in Citus)",
    "patients.Contraindication": "the screening checklist, one for all clinics",
    "scheduling.Protocol": "built-in protocols belong to no clinic (clinic is blank)",
    "scheduling.ProtocolPhase": "part of a protocol",
    "scheduling.Protocol_contraindications": "which checklist items a protocol asks",
    "clinic.ApiToken": "a user's API token, as auth's rows are: a user may work at several",
    "scheduling.Product": "the controlled-substance products, one list for all clinics",
}

# Clinic data that reaches its clinic in more than one step today: the foreign keys to
# follow, ending at a model with a clinic key. For Citus each needs a clinic column
# first; docs/scaling.md says how to add it without downtime.
REACHES_CLINIC_THROUGH = {
    "patients.Screening": ("patient",),
    "patients.ScreeningAnswer": ("screening", "patient"),
    "patients.ScreeningSignOff": ("answer", "screening", "patient"),
    "patients.RecordAccess": ("patient",),
    "patients.QuestionnaireResponse": ("patient",),
    "scheduling.SessionStatusChange": ("session",),
    "scheduling.CheckIn": ("session",),
    "scheduling.ChecklistWaiver": ("session",),
    "scheduling.DoseAdministration": ("session",),
    "scheduling.DeviceAdministration": ("dose", "session"),
    "scheduling.VitalSigns": ("session",),
    "scheduling.SideEffect": ("session",),
    "scheduling.ReadyToLeave": ("session",),
    "scheduling.Discharge": ("session",),
    "scheduling.RemsReport": ("session",),
    "scheduling.ClinicChecklistAnswer": ("check_in", "session"),
    "scheduling.ClinicChecklistItem_protocols": ("clinicchecklistitem",),
    "scheduling.StockBalance": ("location",),
    "scheduling.StockCountLine": ("count",),
}


def _is_history(model) -> bool:
    return hasattr(model, "instance_type")  # set by simple_history on its generated models


def _models():
    for label in APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if not _is_history(model):
                yield model


def _clinic_key(model) -> models.ForeignKey | None:
    try:
        field = model._meta.get_field("clinic")
    except FieldDoesNotExist:
        return None
    if isinstance(field, models.ForeignKey) and field.related_model is Clinic:
        return field
    return None


def _has_distribution_key(model) -> bool:
    field = _clinic_key(model)
    return field is not None and not field.null


def test_every_model_of_clinic_data_has_a_clinic_key_or_is_listed_with_its_reason():
    missing = [
        model._meta.label
        for model in _models()
        if not _has_distribution_key(model)
        and model._meta.label not in NOT_DISTRIBUTED
        and model._meta.label not in REACHES_CLINIC_THROUGH
    ]
    assert missing == [], f"give these a clinic foreign key, or list them with a reason: {missing}"


def test_no_listed_model_has_a_clinic_key_already():
    stale = [
        label
        for label in (*NOT_DISTRIBUTED, *REACHES_CLINIC_THROUGH)
        if _has_distribution_key(apps.get_model(label))
    ]
    assert stale == [], f"these have a clinic key now; take them off the lists: {stale}"


def test_every_listed_model_exists():
    labels = {model._meta.label for model in _models()}
    assert set(NOT_DISTRIBUTED) | set(REACHES_CLINIC_THROUGH) <= labels


@pytest.mark.parametrize("label", sorted(REACHES_CLINIC_THROUGH))
def test_the_path_of_each_listed_model_leads_to_its_clinic_without_a_blank(label):
    model = apps.get_model(label)
    for name in REACHES_CLINIC_THROUGH[label]:
        field = model._meta.get_field(name)
        assert isinstance(field, models.ForeignKey), f"{model._meta.label}.{name}"
        assert not field.null, f"{model._meta.label}.{name} may be blank"
        model = field.related_model
    assert _has_distribution_key(model), f"{label}'s path ends at {model._meta.label}"


def test_a_history_table_has_a_clinic_key_exactly_when_its_model_has_one():
    histories = [
        model
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        if _is_history(model)
    ]
    assert histories, "no history tables found: the walk above would miss nothing"
    for history in histories:
        tracked = history.instance_type
        assert (_clinic_key(history) is not None) == (_clinic_key(tracked) is not None), (
            history._meta.label
        )
