"""Demo data: one clinic with chairs and hours, a login per role, patients on courses,
and the controlled-substance record (products, a safe, a lot of each received, a count).

The clinic requires the second factor of its staff (the default), so every staff login
gets an authenticator with the same known secret, DEMO_TOTP_SECRET, printed at the end:
add it once to an authenticator app and it gives the code for each of them.

Idempotent: running it again changes nothing that exists. Never for production.
"""

import base64
import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import Chair, Clinic, Closure, OpeningHours
from clinic.roles import ROLE_GROUPS
from clinic.services import staff_membership_add
from patients.models import Contraindication, Patient
from patients.services import screening_record

from ...booking.models import Course, Protocol, Session
from ...booking.selectors import slots_free
from ...booking.services import course_start, session_book
from ...chart.models import ClinicChecklistItem
from ...stock.models import Product, StockEntry, StockLocation
from ...stock.services import stock_count, stock_receive

DEMO_PASSWORD = "demo-pass-2026"
# Base32, as authenticator apps take it. Known to anyone who reads this: demo only.
DEMO_TOTP_SECRET = "INFUSIONTRACKERDEMOTOTPSECRETAAA"
LOGINS = [
    # username, role, first, last
    ("frontdesk", "front_desk", "Fran", "Desk"),
    ("nurse", "nurse", "Nadia", "Okafor"),
    ("clinician", "clinician", "Dr Chris", "Lee"),
    ("admin", "clinic_admin", "Ada", "Min"),
]
PRODUCTS = [
    # name, drug, form, strength, unit, mg per unit, units per pack, NDC
    ("Ketamine 50 mg/mL 10 mL vial", "ketamine", "vial", "50 mg/mL", "ml", 50, 10, "0409-2051-05"),
    ("Ketamine 10 mg/mL 20 mL vial", "ketamine", "vial", "10 mg/mL", "ml", 10, 20, "0409-2053-01"),
    ("Esketamine 28 mg nasal device, pack of 2", "esketamine", "nasal_device", "28 mg", "device",
     28, 2, "50458-028-02"),
]  # fmt: skip
PATIENTS = [
    # mrn, first, last, birth, protocol code, weekdays, time
    ("MRN-1001", "Pat", "Patient", dt.date(1985, 4, 12), "iv-standard", [0, 3], dt.time(10, 0)),
    ("MRN-1002", "Sam", "Rivera", dt.date(1979, 9, 30), "esketamine-trd", [1, 4], dt.time(9, 0)),
    (
        "MRN-1003",
        "Alex",
        "Morgan",
        dt.date(1992, 1, 5),
        "iv-six-in-twelve",
        [0, 2, 4],
        dt.time(13, 0),
    ),
]


class Command(BaseCommand):
    help = "Load demo data: a clinic, one login per role, patients on courses."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_seed is for development only (DEBUG is off).")
        with transaction.atomic():
            clinic = self._clinic()
            self._staff(clinic)
            self._checklist_items(clinic)
            self._patients(clinic)
            self._session_today(clinic)
            self._stock(clinic)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, *_ in LOGINS + [("patient", "patient", "", "")]:
            self.stdout.write(f"    {username:<10} {ROLE_GROUPS[role]}")
        self.stdout.write(
            "  Staff sign in with a second factor: add this secret to an authenticator app"
            f" (type: time-based, 6 digits, 30 s) and enter its code after the password:\n"
            f"    {DEMO_TOTP_SECRET}\n"
            f"    otpauth://totp/Infusion%20tracker:demo?secret={DEMO_TOTP_SECRET}"
            "&issuer=Infusion%20tracker"
        )

    def _clinic(self) -> Clinic:
        clinic, created = Clinic.objects.get_or_create(
            slug="harbour",
            defaults=dict(
                name="Harbour Wellness Clinic",
                timezone="Europe/London",
                address="12 Quay Street, Bristol BS1 4XX",
                phone="+441179460000",
                email="hello@harbour.example",
                # REMS is a US programme (CLINICAL.md 11): this UK clinic files no forms.
                rems_applies=False,
            ),
        )
        if created:
            for weekday in range(5):
                OpeningHours.objects.create(
                    clinic=clinic, weekday=weekday, opens=dt.time(8), closes=dt.time(18)
                )
            OpeningHours.objects.create(
                clinic=clinic, weekday=5, opens=dt.time(9), closes=dt.time(13)
            )
            year = clinic.local_today().year
            for y in (year, year + 1):
                Closure.objects.create(
                    clinic=clinic,
                    start_date=dt.date(y, 12, 25),
                    end_date=dt.date(y, 12, 26),
                    reason="Christmas",
                )
                Closure.objects.create(
                    clinic=clinic,
                    start_date=dt.date(y + 1, 1, 1),
                    end_date=dt.date(y + 1, 1, 1),
                    reason="New Year's Day",
                )
            for n in range(1, 5):
                Chair.objects.create(clinic=clinic, name=f"Chair {n}")
        return clinic

    def _staff(self, clinic: Clinic) -> None:
        User = get_user_model()
        for username, role, first, last in LOGINS:
            user, created = User.objects.get_or_create(
                username=username, defaults=dict(first_name=first, last_name=last)
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            staff_membership_add(user=user, clinic=clinic, role=role)
            TOTPDevice.objects.get_or_create(
                user=user,
                name="Demo authenticator",
                defaults=dict(key=base64.b32decode(DEMO_TOTP_SECRET).hex(), confirmed=True),
            )
        User.objects.filter(username="admin").update(is_superuser=True)

    def _checklist_items(self, clinic: Clinic) -> None:
        """The clinic's own check-in item for esketamine: a decongestant shortly before
        dosing may change how the nasal spray is absorbed."""
        ClinicChecklistItem.objects.get_or_create(
            clinic=clinic,
            label="No nasal decongestant in the last hour",
            defaults={"drug": Protocol.Drug.ESKETAMINE},
        )

    def _patients(self, clinic: Clinic) -> None:
        User = get_user_model()
        today = clinic.local_today()
        # Start on the coming Monday so the demo looks the same any day of the week.
        monday = today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)
        clinician = User.objects.get(username="clinician")
        for i, (mrn, first, last, born, code, weekdays, at) in enumerate(PATIENTS):
            patient, _ = Patient.objects.get_or_create(
                clinic=clinic,
                mrn=mrn,
                defaults=dict(
                    first_name=first,
                    last_name=last,
                    birth_date=born,
                    email=f"{first.lower()}@patients.example",
                    phone=f"+447700900{100 + i:03d}",
                    weight_kg=70 + 5 * i,
                    escort_name="A. Friend",
                ),
            )
            if i == 0 and patient.user_id is None:
                user, created = User.objects.get_or_create(
                    username="patient", defaults=dict(first_name=first, last_name=last)
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save()
                user.groups.add(Group.objects.get_or_create(name=ROLE_GROUPS["patient"])[0])
                patient.user = user
                patient.save(update_fields=["user"])
            if patient.screenings.count() == 0:
                screening_record(
                    patient=patient,
                    answers={c.id: False for c in Contraindication.objects.filter(is_active=True)},
                    by=clinician,
                )
            if not Course.objects.filter(patient=patient).exists():
                course_start(
                    patient=patient,
                    protocol=Protocol.objects.get(clinic=None, code=code),
                    start_date=monday + dt.timedelta(days=7 * (i % 2)),
                    preferred_weekdays=weekdays,
                    preferred_time=at,
                    by=clinician,
                    now=timezone.now(),
                )

    def _session_today(self, clinic: Clinic) -> None:
        """A session today for the demo patient, so the nurse's page has a chair to chart
        (if the clinic is open for one more session today)."""
        now = timezone.now()
        today = clinic.local_today(now)
        course = Course.objects.filter(patient__mrn=PATIENTS[0][0], clinic=clinic).first()
        if course is None or any(
            s.astimezone(clinic.tz).date() == today
            for s in Session.objects.filter(course=course).values_list("starts_at", flat=True)
        ):
            return
        slots = slots_free(course=course, start=today, days=1, now=now, limit=1)
        if slots:
            session_book(
                course=course,
                starts_at=slots[0].starts_at,
                by=None,
                note="Demo: a session today for the nurse's chart.",
                now=now,
            )

    def _stock(self, clinic: Clinic) -> None:
        """The controlled-substance record: the products, a safe, a lot of each received
        last week and a matching count, so the stock record shows a real picture. The
        clinic then keeps its record here: the chart's dose names its lot."""
        if StockEntry.objects.filter(clinic=clinic).exists():
            return
        admin = get_user_model().objects.get(username="admin")
        nurse = get_user_model().objects.get(username="nurse")
        safe, _ = StockLocation.objects.get_or_create(clinic=clinic, name="Safe A")
        now = timezone.now()
        received = now - dt.timedelta(days=7)
        for i, (name, drug, form, strength, unit, mg, pack, ndc) in enumerate(PRODUCTS):
            product, _ = Product.objects.get_or_create(
                name=name,
                defaults=dict(drug=drug, form=form, strength=strength, unit=unit,
                              mg_per_unit=mg, units_per_pack=pack, ndc_code=ndc),
            )  # fmt: skip
            stock_receive(
                location=safe, product=product, lot_number=f"DEMO-{i + 1:02d}",
                expires_on=clinic.local_today(now) + dt.timedelta(days=365), quantity=pack * 5,
                supplier="Demo Medical Supply", invoice_number=f"INV-DEMO-{i + 1}",
                by=admin, now=received,
            )  # fmt: skip
        counted = {b.lot_id: b.balance for b in safe.balances.all()}
        stock_count(location=safe, counted=counted, by=nurse, now=now - dt.timedelta(days=1))
