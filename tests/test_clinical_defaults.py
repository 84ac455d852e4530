"""The built-in protocols and the demo clinic carry CLINICAL.md's defaults (sections 1, 2,
4 and 11), as migrated and as put back into an emptied database."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from clinic.models import Clinic
from scheduling.booking.models import Protocol


def assert_built_in_protocols_as_clinical_md_gives_them():
    by_code = {p.code: p for p in Protocol.objects.filter(clinic=None)}
    for code in ("iv-standard", "iv-six-in-twelve"):
        iv = by_code[code]
        assert iv.dose_mg_per_kg == Decimal("0.50") and iv.infusion_minutes == 40
        assert (iv.dose_mg_per_kg_min, iv.dose_mg_per_kg_max) == (Decimal("0.10"), Decimal("1.00"))
        assert (iv.vitals_every_minutes_during, iv.vitals_every_minutes_after) == (10, 15)
        assert 30 <= iv.min_observation_minutes <= 60  # a clinic setting, commonly 30-60
        assert (iv.fasting_food_minutes, iv.fasting_liquids_minutes) == (360, 120)
        assert iv.check_in_weight  # the dose is by weight
    for code in ("esketamine-trd", "esketamine-mdsi"):
        esk = by_code[code]
        assert (esk.device_mg, esk.dose_mg_min, esk.dose_mg_max) == (28, 56, 84)
        assert esk.device_interval_minutes == 5 and esk.min_observation_minutes == 120
        assert (esk.fasting_food_minutes, esk.fasting_liquids_minutes) == (120, 30)
        assert esk.pulse_oximetry_throughout
        assert not esk.check_in_weight  # dosed in devices, not by weight
        assert esk.first_dose_mg_65_and_over is None  # the EU 28 mg option: off by default
    assert by_code["esketamine-trd"].first_dose_mg == 56
    assert by_code["esketamine-mdsi"].first_dose_mg is None  # 84 mg from the first dose


@pytest.mark.django_db
def test_the_built_in_protocols_carry_clinical_md_defaults():
    assert_built_in_protocols_as_clinical_md_gives_them()


@pytest.mark.django_db(transaction=True)
def test_an_emptied_database_gets_the_built_ins_back_with_every_later_correction():
    call_command("flush", interactive=False, verbosity=0)
    assert_built_in_protocols_as_clinical_md_gives_them()


@pytest.mark.django_db
def test_the_demo_clinic_has_clinical_md_thresholds_and_no_rems_in_the_uk(settings):
    settings.DEBUG = True  # demo_seed refuses to run in production
    call_command("demo_seed", verbosity=0)
    clinic = Clinic.objects.get(slug="harbour")
    assert clinic.timezone == "Europe/London"
    assert not clinic.rems_applies  # REMS is a United States programme
    assert (clinic.caution_systolic_above, clinic.caution_diastolic_above) == (140, 90)
    assert (clinic.alert_systolic_at, clinic.alert_diastolic_at) == (180, 110)
    assert clinic.alert_spo2_below == 92
    assert (clinic.alert_heart_rate_above, clinic.alert_heart_rate_below) == (120, 50)
    assert clinic.minimum_age_years == 18
    assert_built_in_protocols_as_clinical_md_gives_them()
