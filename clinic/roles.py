"""Staff roles as Django groups, with the admin permissions each role needs.

Synced after every migrate, so a new model's permissions reach the roles with the
migration that adds it. A user's role at a clinic is a StaffMembership; the group
gives the matching Django permissions; the admin checks the same table per clinic
(clinic/admin_scope.py), so a role at one clinic grants nothing at another.
"""

from django.apps import apps as global_apps

ROLE_GROUPS = {
    "front_desk": "Front desk",
    "nurse": "Nurse",
    "clinician": "Clinician",
    "clinic_admin": "Clinic admin",
    "patient": "Patient",
}

_VIEW = "view"
# What a nurse records from check-in to discharge. Chart records are added through
# services and never changed (corrections are new rows), except the REMS report, which
# stays editable until the form is filed.
CHART_NURSE: dict[str, tuple[str, ...]] = {
    "scheduling.checkin": (_VIEW, "add"),
    "scheduling.checklistwaiver": (_VIEW,),
    "scheduling.doseadministration": (_VIEW, "add"),
    "scheduling.deviceadministration": (_VIEW,),
    "scheduling.vitalsigns": (_VIEW, "add"),
    "scheduling.sideeffect": (_VIEW, "add"),
    "scheduling.alert": (_VIEW,),
    "scheduling.discharge": (_VIEW, "add"),
    "scheduling.remsreport": (_VIEW, "add", "change"),
    "patients.questionnaireresponse": (_VIEW, "add"),
}
# The controlled-substance record: read in the admin by the clinical roles and the clinic
# admin (every movement goes through the services); the clinic admin sets up locations.
STOCK_VIEW: dict[str, tuple[str, ...]] = {
    "scheduling.product": (_VIEW,),
    "scheduling.stocklocation": (_VIEW,),
    "scheduling.lot": (_VIEW,),
    "scheduling.stockbalance": (_VIEW,),
    "scheduling.stockentry": (_VIEW,),
    "scheduling.stockcount": (_VIEW,),
    "scheduling.stockcountline": (_VIEW,),
}
# role -> {"app_label.model": actions}
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "front_desk": {
        "clinic.clinic": (_VIEW,),
        "clinic.chair": (_VIEW,),
        "patients.patient": (_VIEW, "add", "change"),
        "patients.screening": (_VIEW,),
        "patients.screeninganswer": (_VIEW,),
        "scheduling.protocol": (_VIEW,),
        "scheduling.protocolphase": (_VIEW,),
        "scheduling.course": (_VIEW, "add", "change"),
        "scheduling.session": (_VIEW, "add", "change"),
        "scheduling.sessionstatuschange": (_VIEW,),
        "scheduling.reminder": (_VIEW,),
        "scheduling.staffnotice": (_VIEW, "change"),
        "scheduling.reminderpolicy": (_VIEW,),
        "scheduling.reminderrule": (_VIEW,),
        "scheduling.remindertemplate": (_VIEW,),
    },
    "nurse": {
        "clinic.clinic": (_VIEW,),
        "clinic.chair": (_VIEW,),
        "patients.patient": (_VIEW,),
        "patients.contraindication": (_VIEW,),
        "patients.screening": (_VIEW, "add"),
        "patients.screeninganswer": (_VIEW,),
        "patients.screeningsignoff": (_VIEW,),
        "scheduling.protocol": (_VIEW,),
        "scheduling.protocolphase": (_VIEW,),
        "scheduling.course": (_VIEW,),
        "scheduling.session": (_VIEW, "change"),
        "scheduling.sessionstatuschange": (_VIEW,),
        **CHART_NURSE,
        **STOCK_VIEW,
        "scheduling.reminder": (_VIEW,),
        "scheduling.staffnotice": (_VIEW, "change"),
    },
    "clinician": {
        "clinic.clinic": (_VIEW,),
        "clinic.chair": (_VIEW,),
        "patients.patient": (_VIEW, "change"),
        # The checklist is every clinic's: a superuser edits it.
        "patients.contraindication": (_VIEW,),
        "patients.screening": (_VIEW, "add"),
        "patients.screeninganswer": (_VIEW,),
        "patients.screeningsignoff": (_VIEW, "add"),
        "scheduling.protocol": (_VIEW, "add", "change"),
        "scheduling.protocolphase": (_VIEW, "add", "change", "delete"),
        "scheduling.course": (_VIEW, "add", "change"),
        "scheduling.session": (_VIEW, "change"),
        "scheduling.sessionstatuschange": (_VIEW,),
        **CHART_NURSE,
        # Acknowledging an alert is changing it; waivers and dose sign-offs are checked
        # by role in the services as well.
        "scheduling.alert": (_VIEW, "change"),
        "scheduling.checklistwaiver": (_VIEW, "add"),
        # A clinic's own check-in items; retired, never deleted.
        "scheduling.clinicchecklistitem": (_VIEW, "add", "change"),
        **STOCK_VIEW,
        "scheduling.reminder": (_VIEW,),
        "scheduling.staffnotice": (_VIEW, "change"),
    },
    "clinic_admin": {
        "clinic.clinic": (_VIEW, "change"),
        "clinic.openinghours": (_VIEW, "add", "change", "delete"),
        "clinic.closure": (_VIEW, "add", "change", "delete"),
        "clinic.chair": (_VIEW, "add", "change"),
        "clinic.staffmembership": (_VIEW, "add", "change", "delete"),
        "patients.patient": (_VIEW,),
        "scheduling.protocol": (_VIEW,),
        "scheduling.clinicchecklistitem": (_VIEW, "add", "change"),
        "scheduling.course": (_VIEW,),
        "scheduling.session": (_VIEW,),
        "scheduling.reminder": (_VIEW,),
        "scheduling.staffnotice": (_VIEW, "change"),
        "scheduling.reminderpolicy": (_VIEW, "add", "change", "delete"),
        "scheduling.reminderrule": (_VIEW, "add", "change", "delete"),
        "scheduling.remindertemplate": (_VIEW, "add", "change", "delete"),
        **STOCK_VIEW,
        "scheduling.stocklocation": (_VIEW, "add", "change"),
    },
    "patient": {},
}


def sync_role_groups(sender=None, apps=global_apps, **kwargs) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for model_label, actions in ROLE_PERMISSIONS[role].items():
            app_label, model = model_label.split(".")
            wanted += [
                p
                for p in Permission.objects.filter(
                    content_type__app_label=app_label,
                    codename__in=[f"{a}_{model}" for a in actions],
                )
            ]
        group.permissions.set(wanted)  # a permission taken out of the table is taken back
