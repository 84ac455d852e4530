"""Credentials and work for the load profile, read off a generated database.

    DATABASE_URL=... python -m tests.load.prepare --clinics 100 --out test-artifacts/load/world.json

For each of the first N generated clinics (`manage.py generate_data`), through the
product's own models and services:

- an API token and a signed-in browser session for its front desk, nurse and clinician
  (the users `gen-<role>-<clinic id>` the generator made; a load client never signs in
  with a password, so no password hashing or lockout is measured), the session past the
  second factor that the generated clinics require (an authenticator enrolled for each);
- four patients with a portal login, a calendar feed and a reminder link to their next
  session;
- the sessions of the clinic's own today still to chart (booked, checked in, in the
  chair), the active courses the front desk books into, and one screening with a
  relative finding for the clinician to sign off.

Idempotent: a second run reuses tokens and logins and picks up where the last run's
charting left off; a clinic with nothing left to chart today is skipped and counted.
`--refresh WORLD` takes the first N clinics of a world prepared before and reads their
work again (a few queries: between the steps of one run).
"""

# ruff: noqa: E402  (Django is set up before the models are imported)
import argparse
import datetime as dt
import json
import os
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
django.setup()

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import Q
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import two_factor
from clinic.models import Clinic
from clinic.roles import ROLE_GROUPS
from clinic.services import api_token_create
from patients.models import Contraindication, ScreeningAnswer
from patients.services import patient_calendar_token_reset, screening_record
from scheduling.booking.models import Course, Session
from scheduling.reminders.content import session_response_token

GENERATED = "gen-"
ROLES = ("front_desk", "nurse", "clinician")
PATIENTS_PER_CLINIC = 4
CHARTING = (
    Session.Status.BOOKED,
    Session.Status.CHECKED_IN,
    Session.Status.IN_PROGRESS,
    Session.Status.MONITORING,
)


def signed_in(user, *, second_factor: bool = False) -> str:
    """A browser session for `user`, as a sign-in leaves it (Client.force_login's way).
    With `second_factor` (staff: the generated clinics require it), the session has also
    passed it with an authenticator app enrolled for the user, as the verify step leaves
    it; each page then reads that device back, as in production."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[two_factor.REQUIRED] = second_factor
    if second_factor:
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="Load authenticator", defaults={"confirmed": True}
        )
        store[DEVICE_ID_SESSION_KEY] = device.persistent_id
    store.set_expiry(dt.timedelta(days=1))
    store.create()
    return store.session_key


def credentials(user) -> dict:
    _, token = api_token_create(user=user, name="load test")
    return {"user": user.pk, "token": token, "session": signed_in(user, second_factor=True)}


def patient_login(patient, group) -> dict:
    User = get_user_model()
    if patient.user_id is None:
        patient.user = User.objects.create_user(username=f"{GENERATED}patient-{patient.pk}")
        patient.save(update_fields=["user"])
        patient.user.groups.add(group)
    token = patient.calendar_token or patient_calendar_token_reset(patient=patient)
    upcoming = (
        Session.objects.filter(patient=patient, status=Session.Status.BOOKED,
                               starts_at__gt=timezone.now())
        .order_by("starts_at").first()
    )  # fmt: skip
    return {
        "id": patient.pk,
        "session": signed_in(patient.user),
        "calendar": token,
        "respond": session_response_token(session_id=upcoming.pk, starts_at=upcoming.starts_at)
        if upcoming
        else None,
    }


def screening_to_sign(clinic, clinician, relative) -> dict:
    """A screening with one relative finding, unsigned, of the clinic's last patient."""
    patient = clinic.patients.order_by("-pk").first()
    unsigned = ScreeningAnswer.objects.filter(
        screening__patient=patient, present=True, sign_off__isnull=True
    )
    if not unsigned.exists():
        items = Contraindication.objects.filter(is_active=True)
        answers = {c.pk: c.pk == relative.pk for c in items}
        screening_record(patient=patient, answers=answers, by=clinician)
    answer = unsigned.order_by("pk").first()
    return {"screening": answer.screening_id, "answer": answer.pk}


def _load_status(session) -> str:
    """The status as the nurse sees the work: a patient marked arrived whose checklist is
    not yet recorded is still to check in."""
    if session.status == Session.Status.CHECKED_IN and not hasattr(session, "check_in"):
        return Session.Status.BOOKED
    return session.status


def clinic_world(clinic, group, relative) -> dict | None:
    day = clinic.local_today()
    start, end = clinic.day_bounds(day)
    today = list(
        Session.objects.filter(clinic=clinic, starts_at__gte=start, starts_at__lt=end,
                               status__in=CHARTING)
        .select_related("course__protocol", "patient", "check_in")
        .order_by("starts_at", "pk")
    )  # fmt: skip
    if not any(_load_status(s) == Session.Status.BOOKED for s in today):
        return None
    User = get_user_model()
    staff = {role: User.objects.get(username=f"{GENERATED}{role}-{clinic.pk}") for role in ROLES}
    booked = {s.patient_id for s in today}
    signing = clinic.patients.order_by("-pk").values_list("pk", flat=True).first()
    patients = clinic.patients.exclude(pk__in=booked).filter(
        Q(sessions__status=Session.Status.BOOKED, sessions__starts_at__gt=end)
    ).distinct().order_by("pk")[:PATIENTS_PER_CLINIC]  # fmt: skip
    # Not the patient whose finding awaits the clinician's sign-off: booking waits for it.
    courses = Course.objects.filter(clinic=clinic, status=Course.Status.ACTIVE).exclude(
        patient_id__in={*booked, signing}
    ).order_by("pk").values_list("pk", flat=True)[:20]  # fmt: skip
    return {
        "id": clinic.pk,
        "day": day.isoformat(),
        "staff": {role: credentials(user) for role, user in staff.items()},
        "patients": [patient_login(p, group) for p in patients],
        "charting": [
            {
                "id": s.pk,
                "status": _load_status(s),
                "route": s.course.protocol.route,
                "drug": s.course.protocol.drug,
                "weight_kg": str(s.patient.weight_kg or 80),
            }
            for s in today
        ],  # fmt: skip
        "courses": list(courses),
        "sign_off": screening_to_sign(clinic, staff["clinician"], relative),
    }


def world_prepare(*, clinics: int) -> dict:
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS["patient"])
    relative = Contraindication.objects.filter(
        is_active=True, kind=Contraindication.Kind.RELATIVE
    ).first()
    out, skipped = [], 0
    for clinic in Clinic.objects.filter(slug__startswith=GENERATED).order_by("pk"):
        if len(out) == clinics:
            break
        world = clinic_world(clinic, group, relative)
        if world is None:
            skipped += 1
        else:
            out.append(world)
    return {"clinics": out, "skipped": skipped, "session_cookie": settings.SESSION_COOKIE_NAME}


def world_refresh(world: dict, *, clinics: int) -> dict:
    """The first `clinics` of a prepared world, its work read again from the database
    (what an earlier run charted or signed is not offered twice). A few queries in all."""
    kept = world["clinics"][:clinics]
    ids = [s["id"] for c in kept for s in c["charting"]]
    sessions = {s.pk: s for s in Session.objects.filter(pk__in=ids).select_related("check_in")}
    signed = set(
        ScreeningAnswer.objects.filter(
            pk__in=[c["sign_off"]["answer"] for c in kept], sign_off__isnull=False
        ).values_list("pk", flat=True)
    )
    relative = Contraindication.objects.filter(
        is_active=True, kind=Contraindication.Kind.RELATIVE
    ).first()
    for clinic in kept:
        for s in clinic["charting"]:
            s["status"] = _load_status(sessions[s["id"]])
        if clinic["sign_off"]["answer"] in signed:
            c = Clinic.objects.get(pk=clinic["id"])
            clinician = get_user_model().objects.get(pk=clinic["staff"]["clinician"]["user"])
            clinic["sign_off"] = screening_to_sign(c, clinician, relative)
    return {**world, "clinics": kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinics", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--refresh", type=Path, help="a world prepared before, read again")
    args = parser.parse_args()
    if args.refresh:
        world = world_refresh(json.loads(args.refresh.read_text()), clinics=args.clinics)
    else:
        world = world_prepare(clinics=args.clinics)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(world))
    print(json.dumps({"clinics": len(world["clinics"]), "skipped": world["skipped"]}))


if __name__ == "__main__":
    main()
