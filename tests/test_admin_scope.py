"""The admin is scoped like the API: each role of one clinic, walked through every
registered ModelAdmin against the other clinic's objects, reaches none of them (lists,
filters, change, history, revert and delete pages, a POST, autocomplete and drop-downs),
and the role table decides what it may do at its own clinic."""

import datetime as dt

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from django.utils import timezone

from clinic.admin_scope import ScopedAdmin, clinic_of, in_clinics
from clinic.models import StaffMembership
from clinic.roles import ROLE_PERMISSIONS
from clinic.services import staff_membership_add
from patients.models import Contraindication, Patient, RecordAccess, ScreeningSignOff
from scheduling.booking.models import Protocol, Session, StaffNotice
from scheduling.chart.models import ChecklistWaiver, ClinicChecklistItem, Discharge, RemsReport
from scheduling.reminders.models import ReminderPolicy, ReminderRule, ReminderTemplate
from scheduling.stock.models import Product

from .api_world import build_world

STAFF_ROLES = [r.value for r in StaffMembership.Role]
# Every model of a clinic's data, and the way from a row to its clinic: stated here, not
# read from the admin, so that an admin left unscoped fails these tests.
CLINIC_PATHS = {
    "clinic.clinic": "id", "clinic.chair": "clinic", "clinic.staffmembership": "clinic",
    "patients.patient": "clinic", "patients.recordaccess": "patient__clinic",
    "patients.screening": "patient__clinic",
    "patients.screeningsignoff": "answer__screening__patient__clinic",
    "patients.questionnaireresponse": "patient__clinic",
    "scheduling.checkin": "session__clinic", "scheduling.checklistwaiver": "session__clinic",
    "scheduling.doseadministration": "session__clinic", "scheduling.vitalsigns": "session__clinic",
    "scheduling.sideeffect": "session__clinic", "scheduling.discharge": "session__clinic",
    "scheduling.alert": "clinic", "scheduling.remsreport": "session__clinic",
    "scheduling.protocol": "clinic", "scheduling.course": "clinic", "scheduling.session": "clinic",
    "scheduling.reminder": "clinic", "scheduling.staffnotice": "clinic",
    "scheduling.reminderpolicy": "clinic", "scheduling.reminderrule": "clinic",
    "scheduling.remindertemplate": "clinic", "scheduling.clinicchecklistitem": "clinic",
    "scheduling.stocklocation": "clinic", "scheduling.lot": "clinic",
    "scheduling.stockbalance": "location__clinic", "scheduling.stockentry": "clinic",
    "scheduling.stockcount": "clinic",
}  # fmt: skip
SCOPED = {m: a for m, a in admin.site._registry.items() if m._meta.label_lower in CLINIC_PATHS}


def _path(model) -> str:
    return CLINIC_PATHS[model._meta.label_lower]


def _url(model, view: str, *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _add_records_the_world_lacks(world) -> None:
    """One row of every scoped model at each clinic, so that no admin goes untried."""
    from scheduling.booking.services import course_start
    from scheduling.reminders.models import ReminderKind

    now = timezone.now()
    for clinic, patient in (
        (world.clinic, world.patient),
        (world.other_clinic, world.foreign_patient),
    ):
        user = StaffMembership.objects.filter(clinic=clinic).first().user
        session = Session.objects.filter(patient=patient).order_by("number")
        charted, later = session[0], session[1]
        RecordAccess.objects.create(user=user, patient=patient, accessed_at=now, action="test")
        answer = patient.screenings.first().answers.first()
        ScreeningSignOff.objects.create(answer=answer, clinician=user, reason="r", signed_at=now)
        ChecklistWaiver.objects.create(
            session=charted, item="fasting", waived_by=user, reason="r", waived_at=now
        )
        Discharge.objects.create(
            session=later, discharged_by=user, discharged_at=now, monitoring_from=now,
            monitoring_minutes=0, escort_name="A. Friend",
        )  # fmt: skip
        esketamine = course_start(
            patient=patient, protocol=Protocol.objects.get(clinic=None, code="esketamine-trd"),
            start_date=(now + dt.timedelta(days=7)).date(), preferred_weekdays=[1, 4],
            preferred_time=dt.time(14), by=None, now=now,
        )  # fmt: skip
        first = esketamine.sessions.order_by("number").first()
        RemsReport.objects.create(session=first, recorded_by=user, recorded_at=now)
        StaffNotice.objects.create(
            clinic=clinic, kind=StaffNotice.Kind.NO_SHOW, message="m", created_at=now,
            dedupe_key=f"test-{clinic.pk}",
        )  # fmt: skip
        ReminderPolicy.objects.get_or_create(clinic=clinic)
        ReminderRule.objects.get_or_create(
            clinic=clinic,
            kind=ReminderKind.values[0],
            defaults={"lead_minutes": 60, "latest_minutes": 30},
        )
        ReminderTemplate.objects.get_or_create(
            clinic=clinic, kind=ReminderKind.values[0], channel="sms", defaults={"text": "t"}
        )
        ClinicChecklistItem.objects.create(clinic=clinic, label="No nasal decongestant")
        _stock(clinic, user, now)


def _stock(clinic, user, now) -> None:
    from scheduling.stock.models import Product, StockBalance, StockCount, StockLocation
    from scheduling.stock.services import stock_receive

    product, _ = Product.objects.get_or_create(
        name="Ketamine 10 mg/mL 20 mL vial", drug="ketamine", form="vial",
        strength="10 mg/mL", unit="ml", mg_per_unit=10, units_per_pack=20,
    )  # fmt: skip
    safe = StockLocation.objects.create(clinic=clinic, name="Safe")
    admin_user = get_user_model().objects.create_user(username=f"stock-{clinic.slug}")
    staff_membership_add(user=admin_user, clinic=clinic, role="clinic_admin")
    stock_receive(location=safe, product=product, lot_number="L1", quantity="20",
                  expires_on=dt.date(2099, 1, 1), supplier="S", invoice_number="I",
                  by=admin_user, now=now)  # fmt: skip
    assert StockBalance.objects.filter(location=safe).exists()
    StockCount.objects.create(clinic=clinic, location=safe, counted_by=user, counted_at=now)


@pytest.fixture
def world(db):
    world = build_world(timezone.now())
    _add_records_the_world_lacks(world)
    return world


def _rows(model, model_admin, clinic):
    return model._default_manager.filter(in_clinics(_path(model), {clinic.id}))


def _may(role: str, model, action: str) -> bool:
    return action in ROLE_PERMISSIONS[role].get(model._meta.label_lower, ())


def test_every_admin_is_scoped_by_clinic_or_closed_to_clinic_staff(world, client):
    """A ModelAdmin of clinic data is scoped; any other gives clinic staff nothing but a
    read of a catalogue every clinic shares (the contraindications, the stock products)."""
    assert all(isinstance(a, ScopedAdmin) for a in SCOPED.values())
    assert len(SCOPED) == len(CLINIC_PATHS)
    for model, model_admin in admin.site._registry.items():
        if model in SCOPED:
            continue
        for role in STAFF_ROLES:
            client.force_login(world.users[role])
            request = client.get("/admin/").wsgi_request
            may_view = model_admin.has_view_permission(request)
            assert not model_admin.has_change_permission(request), (model, role)
            assert not model_admin.has_add_permission(request), (model, role)
            assert not model_admin.has_delete_permission(request), (model, role)
            assert not may_view or model in (Contraindication, Product), (model, role)


def test_the_world_has_a_record_of_every_scoped_model_at_each_clinic(world):
    for model, model_admin in SCOPED.items():
        for clinic in (world.clinic, world.other_clinic):
            assert _rows(model, model_admin, clinic).exists(), (model, clinic)


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_no_role_reaches_another_clinics_records(world, client, role):
    client.force_login(world.users[role])
    for model, model_admin in SCOPED.items():
        foreign = list(_rows(model, model_admin, world.other_clinic))
        if model is Protocol:
            foreign = [p for p in foreign if p.clinic_id is not None]
        changelist = client.get(_url(model, "changelist"))
        if changelist.status_code == 200:
            shown = {obj.pk for obj in changelist.context["cl"].result_list}
            assert not shown & {obj.pk for obj in foreign}, (model, role)
        else:
            assert changelist.status_code == 403, (model, role)
        for obj in foreign:
            before = model_to_dict(model._default_manager.get(pk=obj.pk))
            pages = [_url(model, "change", obj.pk), _url(model, "delete", obj.pk),
                     _url(model, "history", obj.pk)]  # fmt: skip
            if hasattr(model_admin, "history_form_view"):
                version = obj.history.first()
                pages.append(_url(model, "simple_history", obj.pk, version.history_id))
            for page in pages:
                assert client.get(page).status_code == 404, (page, role)
            post = client.post(_url(model, "change", obj.pk), {"name": "Overwritten"})
            assert post.status_code == 404, (model, role)
            assert client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 404
            assert model_to_dict(model._default_manager.get(pk=obj.pk)) == before


def _scoped_choice_pks(form: forms.Form, foreign_clinic_id: int) -> list[tuple[str, int]]:
    """The (field, pk) of every drop-down choice that belongs to the other clinic."""
    found = []
    for name, field in form.fields.items():
        if not isinstance(field, forms.ModelChoiceField):
            continue
        related = field.queryset.model
        if related in SCOPED:
            path = _path(related)
            found += [
                (name, obj.pk)
                for obj in field.queryset
                if clinic_of(obj, path) == foreign_clinic_id
            ]
        elif related is get_user_model():
            staff = StaffMembership.objects.filter(clinic_id=foreign_clinic_id)
            theirs = set(staff.values_list("user_id", flat=True))
            theirs |= set(
                Patient.objects.filter(clinic_id=foreign_clinic_id, user__isnull=False).values_list(
                    "user_id", flat=True
                )
            )
            found += [
                (name, pk) for pk in field.queryset.values_list("pk", flat=True) if pk in theirs
            ]
    return found


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_drop_downs_filters_and_autocomplete_offer_only_the_own_clinic(world, client, role):
    client.force_login(world.users[role])
    other = world.other_clinic
    for model, model_admin in SCOPED.items():
        pages = []
        if _may(role, model, "add"):
            pages.append(_url(model, "add"))
        own = _rows(model, model_admin, world.clinic).first()
        if _may(role, model, "change"):
            pages.append(_url(model, "change", own.pk))
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, (page, role)
            if "adminform" in response.context:
                form = response.context["adminform"].form
                assert _scoped_choice_pks(form, other.id) == [], (page, role)
        changelist = client.get(_url(model, "changelist"))
        if changelist.status_code != 200:
            continue
        for spec in changelist.context["cl"].filter_specs:
            related = getattr(getattr(spec, "field", None), "related_model", None)
            if related in SCOPED and hasattr(spec, "lookup_choices"):
                path = _path(related)
                pks = [pk for pk, _ in spec.lookup_choices]
                clinics = {clinic_of(o, path) for o in related._default_manager.filter(pk__in=pks)}
                assert other.id not in clinics, (model, spec.title, role)
        for field_name in model_admin.autocomplete_fields:
            remote = model._meta.get_field(field_name).related_model
            response = client.get(
                "/admin/autocomplete/",
                {"app_label": model._meta.app_label, "model_name": model._meta.model_name,
                 "field_name": field_name, "term": ""},
            )  # fmt: skip
            if response.status_code == 200 and remote in SCOPED:
                pks = [int(r["id"]) for r in response.json()["results"]]
                foreign = _rows(remote, SCOPED[remote], other).values_list("pk", flat=True)
                assert not set(pks) & set(foreign), (model, field_name, role)


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_view_only_pages_answer_200(world, client, role):
    client.force_login(world.users[role])
    for model, model_admin in SCOPED.items():
        request = client.get("/admin/").wsgi_request
        own = _rows(model, model_admin, world.clinic).first()
        if model_admin.has_view_permission(request, own) and not model_admin.has_change_permission(
            request, own
        ):
            response = client.get(_url(model, "change", own.pk))
            assert response.status_code == 200, (model, role)
            assert b'name="_save"' not in response.content, (model, role)


def test_a_role_at_one_clinic_grants_nothing_at_another(world, client):
    """A front desk here who is a clinician elsewhere may not rewrite this clinic's
    protocol, though a clinician's group permissions are theirs."""
    desk = world.users["front_desk"]
    staff_membership_add(user=desk, clinic=world.other_clinic, role="clinician")
    protocol = Protocol.objects.get(clinic=world.clinic, code="own")
    client.force_login(desk)

    page = client.get(_url(Protocol, "change", protocol.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read only here
    client.post(_url(Protocol, "change", protocol.pk), {"name": "Rewritten"})
    protocol.refresh_from_db()
    assert protocol.name != "Rewritten"


def test_a_missing_record_and_another_clinics_answer_alike(world, client):
    client.force_login(world.users["front_desk"])
    foreign = client.get(_url(Patient, "change", world.foreign_patient.pk))
    missing = client.get(_url(Patient, "change", 999_999))
    assert foreign.status_code == missing.status_code == 404


def test_a_history_revert_is_refused_and_writes_nothing(world, client):
    patient = world.patient
    patient.first_name = "Changed"
    patient.save()
    client.force_login(world.users["front_desk"])
    first = patient.history.earliest()
    url = _url(Patient, "simple_history", patient.pk, first.history_id)
    assert client.get(url).status_code == 200
    old = {k: "" if v is None else v for k, v in model_to_dict(first.instance).items()}
    assert client.post(url, old).status_code == 403
    patient.refresh_from_db()
    assert patient.first_name == "Changed"


def test_a_front_desk_edits_no_clinical_record(world, client):
    client.force_login(world.users["front_desk"])
    request = client.get("/admin/").wsgi_request
    clinical = [m for m in SCOPED if m._meta.label_lower in _clinical_labels()]
    assert clinical
    for model in clinical:
        own = _rows(model, SCOPED[model], world.clinic).first()
        assert not SCOPED[model].has_change_permission(request, own), model
        assert not SCOPED[model].has_add_permission(request), model


def _clinical_labels() -> set[str]:
    return {
        "patients.screening", "patients.screeningsignoff", "patients.questionnaireresponse",
        "scheduling.checkin", "scheduling.checklistwaiver", "scheduling.doseadministration",
        "scheduling.vitalsigns", "scheduling.sideeffect", "scheduling.alert",
        "scheduling.discharge", "scheduling.remsreport",
    }  # fmt: skip
