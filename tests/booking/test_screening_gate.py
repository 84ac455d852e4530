"""The screening gate: who may start a course, as far as contraindications go."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.models import Clinic
from clinic.services import staff_membership_add
from patients.models import Contraindication, Patient, Screening, ScreeningSignOff
from patients.selectors import GateResult, screening_gate, screening_latest
from patients.services import screening_record, screening_sign_off
from scheduling.booking.models import Protocol

from ..conftest import at, make_clear_screening, make_patient, make_screening

NOW = at(2027, 3, 1, 9)
REASON = "Intraocular pressure normal at ophthalmology review last month."


@pytest.fixture
def patient(clinic):
    """Here a patient starts unscreened and not enrolled, unlike elsewhere."""
    return make_patient(clinic)


def gate(patient, protocol=None, *, now=NOW, requires_rems=False):
    ids = None if protocol is None else set(protocol.contraindications.values_list("id", flat=True))
    return screening_gate(
        patient=patient, contraindication_ids=ids, requires_rems=requires_rems, now=now
    )


def answer(screening, code):
    return screening.answers.get(contraindication__code=code)


def item(code) -> Contraindication:
    return Contraindication.objects.get(code=code)


# --- The checklist as data -----------------------------------------------------------


def test_the_checklist_is_shipped_as_data_with_both_kinds(db):
    kinds = dict(Contraindication.objects.filter(is_active=True).values_list("code", "kind"))
    absolute, relative = Contraindication.Kind.ABSOLUTE, Contraindication.Kind.RELATIVE

    assert set(kinds.values()) == {absolute, relative}
    for code in (
        "active-psychosis-or-mania",
        "uncontrolled-hypertension",
        "active-internal-bleeding",
        "pregnancy-or-breastfeeding",
        "under-18",
        "aneurysmal-vascular-disease-or-avm",
        "intracerebral-haemorrhage-history",
        "ketamine-hypersensitivity",
    ):
        assert kinds[code] == absolute, code
    for code in (
        "psychosis-history",
        "cardiovascular-disease",
        "thyroid-disease",
        "liver-or-kidney-disease",
        "glaucoma",
        "substance-use-disorder",
        "sedating-medications",
        "stimulant-or-maoi-medications",
    ):
        assert kinds[code] == relative, code


def test_the_built_in_protocols_apply_every_item_and_the_label_items_to_esketamine_only(db):
    every = set(Contraindication.objects.values_list("code", flat=True))
    label_only = {"aneurysmal-vascular-disease-or-avm", "intracerebral-haemorrhage-history"}
    for code, expected in [
        ("iv-standard", every - label_only),
        ("iv-six-in-twelve", every - label_only),
        ("esketamine-trd", every),
        ("esketamine-mdsi", every),
    ]:
        protocol = Protocol.objects.get(clinic=None, code=code)
        assert set(protocol.contraindications.values_list("code", flat=True)) == expected, code


def test_a_screening_stays_current_for_at_least_a_day(clinic):
    assert clinic.screening_valid_days == 180
    clinic.screening_valid_days = 0
    with pytest.raises(ValidationError) as exc:
        clinic.full_clean()
    assert "screening_valid_days" in exc.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Clinic.objects.filter(pk=clinic.pk).update(screening_valid_days=0)


# --- Recording a screening -------------------------------------------------------------


def test_a_clear_current_screening_lets_the_course_through(patient, iv_standard, staff):
    screening = make_clear_screening(patient, by=staff["nurse"], now=NOW)

    assert screening.screened_by == staff["nurse"]
    assert screening.answers.count() == Contraindication.objects.filter(is_active=True).count()
    valid_until = NOW + dt.timedelta(days=patient.clinic.screening_valid_days)
    assert (
        gate(patient, iv_standard)
        == gate(patient)
        == GateResult(allowed=True, problems=[], valid_until=valid_until)
    )


def test_every_active_item_must_be_answered(patient):
    items = list(Contraindication.objects.filter(is_active=True))
    answers = {c.id: False for c in items if c.code != "glaucoma"}

    with pytest.raises(ValidationError) as exc:
        screening_record(patient=patient, answers=answers, by=None, now=NOW)

    assert "Glaucoma" in " ".join(exc.value.message_dict["answers"])
    assert not Screening.objects.exists()


def test_unknown_items_are_refused(patient):
    answers = dict.fromkeys(Contraindication.objects.values_list("id", flat=True), False)
    unknown = max(answers) + 1000
    answers[unknown] = False

    with pytest.raises(ValidationError) as exc:
        screening_record(patient=patient, answers=answers, by=None, now=NOW)

    assert str(unknown) in " ".join(exc.value.message_dict["answers"])
    assert not Screening.objects.exists()


def test_an_answer_is_yes_or_no_never_blank(patient):
    answers = [(c_id, False, "") for c_id in Contraindication.objects.values_list("id", flat=True)]
    answers[0] = (answers[0][0], None, "")

    with pytest.raises(ValidationError) as exc:
        screening_record(patient=patient, answers=answers, by=None, now=NOW)

    assert "answers" in exc.value.message_dict
    assert not Screening.objects.exists()


def test_only_staff_of_the_patients_clinic_record_a_screening(patient, other_clinic):
    stranger = get_user_model().objects.create_user(username="elsewhere", password="x")
    staff_membership_add(user=stranger, clinic=other_clinic, role="nurse")

    with pytest.raises(PermissionDenied):
        make_clear_screening(patient, by=stranger, now=NOW)
    assert not Screening.objects.exists()


# --- The gate's rules ------------------------------------------------------------------


def test_no_screening_blocks(patient, iv_standard):
    result = gate(patient, iv_standard)

    assert not result.allowed
    assert result.problems == [
        "The patient has not been screened for contraindications; record a screening first."
    ]


def test_an_absolute_finding_blocks(patient, iv_standard):
    make_screening(patient, present={"pregnancy-or-breastfeeding"}, now=NOW)

    result = gate(patient, iv_standard)

    assert not result.allowed
    assert len(result.problems) == 1
    assert "Pregnant, possibly pregnant, or breastfeeding" in result.problems[0]
    assert "absolute" in result.problems[0]


def test_a_relative_finding_needs_a_clinicians_sign_off_with_a_reason(patient, iv_standard, staff):
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)
    blocked = gate(patient, iv_standard)
    assert not blocked.allowed
    assert blocked.problems == [
        "Glaucoma or raised pressure in the eye: a relative contraindication that needs a "
        "clinician's sign-off."
    ]

    sign_off = screening_sign_off(
        answer=answer(screening, "glaucoma"),
        clinician=staff["clinician"],
        reason=f"  {REASON}\n",
        now=NOW,
    )

    assert (sign_off.clinician, sign_off.reason, sign_off.signed_at) == (
        staff["clinician"],
        REASON,
        NOW,
    )
    assert gate(patient, iv_standard).allowed


@pytest.mark.parametrize("reason", ["", "   ", "\n\t "])
def test_a_blank_reason_is_refused(patient, staff, reason):
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)

    with pytest.raises(ValidationError) as exc:
        screening_sign_off(
            answer=answer(screening, "glaucoma"), clinician=staff["clinician"], reason=reason
        )

    assert "reason" in exc.value.message_dict
    assert not ScreeningSignOff.objects.exists()


def test_the_database_refuses_a_blank_reason(patient, staff):
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)

    with pytest.raises(IntegrityError), transaction.atomic():
        ScreeningSignOff.objects.create(
            answer=answer(screening, "glaucoma"),
            clinician=staff["clinician"],
            reason="   ",
            signed_at=NOW,
        )


@pytest.mark.parametrize("role", ["nurse", "front_desk", "clinic_admin"])
def test_a_sign_off_by_a_non_clinician_is_refused(patient, staff, role):
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)

    with pytest.raises(PermissionDenied, match="Only a clinician"):
        screening_sign_off(
            answer=answer(screening, "glaucoma"), clinician=staff[role], reason=REASON
        )
    assert not ScreeningSignOff.objects.exists()


def test_a_sign_off_by_a_clinician_of_another_clinic_is_refused(patient, other_clinic):
    User = get_user_model()
    elsewhere = User.objects.create_user(username="dr-elsewhere", password="x")
    staff_membership_add(user=elsewhere, clinic=other_clinic, role="clinician")
    superuser = User.objects.create_superuser(username="root", password="x")
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)

    for user in (elsewhere, superuser):
        with pytest.raises(PermissionDenied):
            screening_sign_off(answer=answer(screening, "glaucoma"), clinician=user, reason=REASON)
    assert not ScreeningSignOff.objects.exists()


def test_an_absolute_finding_cannot_be_signed_off(patient, iv_standard, staff):
    screening = make_screening(patient, present={"active-internal-bleeding"}, now=NOW)

    with pytest.raises(ValidationError) as exc:
        screening_sign_off(
            answer=answer(screening, "active-internal-bleeding"),
            clinician=staff["clinician"],
            reason=REASON,
        )

    assert "cannot be signed off" in exc.value.message_dict["answer"][0]
    assert not ScreeningSignOff.objects.exists()
    assert not gate(patient, iv_standard).allowed


def test_an_absent_finding_has_nothing_to_sign_off(patient, staff):
    screening = make_clear_screening(patient, now=NOW)

    with pytest.raises(ValidationError) as exc:
        screening_sign_off(
            answer=answer(screening, "glaucoma"), clinician=staff["clinician"], reason=REASON
        )
    assert "nothing to sign off" in exc.value.message_dict["answer"][0]


def test_a_finding_is_signed_off_once(patient, staff):
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)
    glaucoma = answer(screening, "glaucoma")
    screening_sign_off(answer=glaucoma, clinician=staff["clinician"], reason=REASON)

    with pytest.raises(ValidationError, match="already signed off"):
        screening_sign_off(answer=glaucoma, clinician=staff["clinician"], reason="Again.")
    assert ScreeningSignOff.objects.count() == 1


def test_an_expired_screening_blocks(clinic, patient, iv_standard):
    clinic.screening_valid_days = 30
    clinic.save()
    make_clear_screening(patient, now=at(2027, 1, 1, 9))

    result = gate(patient, iv_standard, now=at(2027, 1, 31, 9))

    assert not result.allowed
    assert result.problems == [
        "The latest screening (2027-01-01) expired on 2027-01-31; screen the patient again."
    ]
    assert gate(patient, iv_standard, now=at(2027, 1, 31, 8, 59)).allowed


def test_rems_enrolment_is_needed_when_required(patient, esketamine_trd):
    make_clear_screening(patient, now=NOW)

    result = gate(patient, esketamine_trd, requires_rems=True)
    assert not result.allowed
    assert "REMS" in result.problems[0]
    assert gate(patient, esketamine_trd, requires_rems=False).allowed

    patient.rems_patient_id = "REMS-0001"
    patient.rems_enrolled_on = dt.date(2027, 2, 1)
    with time_machine.travel(NOW, tick=False):  # an enrolment date is never in the future
        patient.full_clean()
    patient.save()

    assert patient.is_rems_enrolled
    assert gate(patient, esketamine_trd, requires_rems=True).allowed


def test_a_rems_id_and_its_enrolment_date_go_together(patient):
    patient.rems_patient_id = "REMS-0001"
    with pytest.raises(ValidationError) as exc:
        patient.full_clean()
    assert "rems_enrolled_on" in exc.value.message_dict
    assert not patient.is_rems_enrolled

    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(rems_enrolled_on=dt.date(2027, 2, 1))


def test_an_item_that_does_not_apply_to_the_protocol_does_not_block(
    patient, iv_standard, esketamine_trd
):
    make_screening(patient, present={"aneurysmal-vascular-disease-or-avm"}, now=NOW)

    assert gate(patient, iv_standard).allowed
    assert not gate(patient, esketamine_trd).allowed
    assert not gate(patient, protocol=None).allowed  # None: every item applies


def test_the_latest_screening_wins(patient, iv_standard):
    make_screening(patient, present={"ketamine-hypersensitivity"}, now=at(2027, 2, 1))
    clear = make_clear_screening(patient, now=at(2027, 2, 20))
    # Recorded later but taken earlier (a paper form typed in): not the latest.
    make_screening(patient, present={"ketamine-hypersensitivity"}, now=at(2027, 2, 10))

    assert screening_latest(patient=patient) == clear
    assert gate(patient, iv_standard).allowed

    make_screening(patient, present={"ketamine-hypersensitivity"}, now=at(2027, 2, 25))
    assert not gate(patient, iv_standard).allowed


def test_a_retired_item_is_not_asked_and_no_longer_blocks(patient, iv_standard):
    make_screening(patient, present={"glaucoma"}, now=at(2027, 2, 1))
    Contraindication.objects.filter(code="glaucoma").update(is_active=False)

    assert gate(patient, iv_standard).allowed
    with pytest.raises(ValidationError, match="retired"):
        screening_record(
            patient=patient,
            answers=dict.fromkeys(Contraindication.objects.values_list("id", flat=True), False),
            by=None,
            now=NOW,
        )
    make_clear_screening(patient, now=NOW)  # the active items only


def test_an_item_added_after_the_screening_blocks_until_screened_again(patient, iv_standard):
    make_clear_screening(patient, now=at(2027, 2, 1))
    new = Contraindication.objects.create(
        code="seizure-disorder", name="Seizure disorder", kind=Contraindication.Kind.RELATIVE
    )
    iv_standard.contraindications.add(new)

    result = gate(patient, iv_standard)
    assert not result.allowed
    assert result.problems[0].startswith("Seizure disorder: not asked in the latest screening")

    make_clear_screening(patient, now=NOW)
    assert gate(patient, iv_standard).allowed


def test_every_problem_is_listed_at_once(clinic, patient, esketamine_trd):
    make_screening(patient, present={"under-18", "thyroid-disease"}, now=at(2026, 1, 1))

    result = gate(patient, esketamine_trd, requires_rems=True)

    assert len(result.problems) == 4  # expired, absolute, relative, REMS


def test_screening_gate_query_count_is_constant(
    patient, esketamine_trd, staff, django_assert_max_num_queries
):
    relative = Contraindication.Kind.RELATIVE
    codes = set(Contraindication.objects.filter(kind=relative).values_list("code", flat=True))
    screening = make_screening(patient, present=codes | {"under-18"}, now=NOW)
    for code in sorted(codes)[::2]:
        screening_sign_off(
            answer=answer(screening, code), clinician=staff["clinician"], reason=REASON
        )
    ids = set(esketamine_trd.contraindications.values_list("id", flat=True))
    other = make_patient(patient.clinic, mrn="MRN-2")
    make_screening(other, present={"glaucoma"}, now=NOW)

    for who in (patient, other):
        fresh = Patient.objects.get(pk=who.pk)  # nothing cached, not even the clinic
        with django_assert_max_num_queries(3):
            result = screening_gate(
                patient=fresh, contraindication_ids=ids, requires_rems=True, now=NOW
            )
        assert not result.allowed


# --- Admin -------------------------------------------------------------------------------


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_a_screening_is_recorded_from_the_admin_through_the_service(client, patient, staff):
    nurse = staff["nurse"]
    grant(nurse, "add_screening", "view_screening", "view_patient")
    client.force_login(nurse)
    items = Contraindication.objects.filter(is_active=True)
    data = {"patient": patient.pk, "notes": "Reviewed with the patient."}
    for c in items:
        data[f"item_{c.id}"] = "yes" if c.code == "glaucoma" else "no"
        data[f"note_{c.id}"] = ""

    assert client.get("/admin/patients/screening/add/").status_code == 200
    missing = {k: v for k, v in data.items() if k != f"item_{item('glaucoma').id}"}
    assert client.post("/admin/patients/screening/add/", missing).status_code == 200
    assert not Screening.objects.exists()
    response = client.post("/admin/patients/screening/add/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    screening = Screening.objects.get()
    assert screening.screened_by == nurse
    assert screening.answers.count() == items.count()
    assert list(screening.answers.filter(present=True).values_list("contraindication__code")) == [
        ("glaucoma",)
    ]
    page = client.get(f"/admin/patients/screening/{screening.pk}/change/")
    assert page.status_code == 200
    assert b"Needs sign-off" in page.content


def test_a_clinician_signs_off_from_the_admin_as_themselves(client, patient, staff):
    screening = make_screening(patient, present={"glaucoma"}, now=NOW)
    glaucoma = answer(screening, "glaucoma")
    url = "/admin/patients/screeningsignoff/add/"
    # The role table governs the admin per clinic: a permission granted outside it (a
    # nurse's group given the sign-off) opens nothing.
    grant(staff["nurse"], "add_screeningsignoff", "view_screeningsignoff")
    client.force_login(staff["nurse"])
    assert client.post(url, {"answer": glaucoma.pk, "reason": REASON}).status_code == 403

    client.force_login(staff["clinician"])
    assert client.get(f"{url}?answer={glaucoma.pk}").status_code == 200
    assert client.post(url, {"answer": glaucoma.pk, "reason": " "}).status_code == 200
    response = client.post(url, {"answer": glaucoma.pk, "reason": REASON})

    assert response.status_code == 302, response.content.decode()[:2000]
    sign_off = ScreeningSignOff.objects.get()
    assert (sign_off.answer, sign_off.clinician, sign_off.reason) == (
        glaucoma,
        staff["clinician"],
        REASON,
    )
    assert client.get(f"/admin/patients/screeningsignoff/{sign_off.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/patients/contraindication/",
        "/admin/patients/contraindication/add/",
        "/admin/patients/screening/",
        "/admin/patients/screening/add/",
        "/admin/patients/screeningsignoff/",
        "/admin/patients/patient/add/",
    ],
)
def test_the_screening_admin_pages_answer(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_a_protocol_linked_to_no_items_is_screened_against_all_of_them(patient, iv_standard):
    from scheduling.booking.services import course_gate_check

    iv_standard.contraindications.clear()
    make_screening(patient, present={"glaucoma"})

    with pytest.raises(ValidationError) as exc:
        course_gate_check(patient=patient, protocol=iv_standard, now=timezone.now())
    assert "Glaucoma" in " ".join(exc.value.message_dict["screening"])
