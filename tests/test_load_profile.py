"""The load profile (tests/load): its logins work, its rates are the ones it states, and
it runs against the product without a failure. The figures come from `make load`, never
from here: these tests only keep the yardstick true to the product."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from scheduling.management.commands.generate_data import SCALES, data_generate

ROOT = Path(__file__).resolve().parents[1]
# A Wednesday, in the working day of the two tiny clinics (New York and Chicago).
WORKDAY = dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(transactional_db, tmp_path):
    from tests.load.prepare import world_prepare

    with time_machine.travel(WORKDAY, tick=True):
        data_generate(scale=SCALES["tiny"], seed=5)
        world = world_prepare(clinics=2)
    path = tmp_path / "world.json"
    path.write_text(json.dumps(world))
    return world, path


def _locust_classes(path: Path) -> dict:
    """The user classes' rates, read in a process of their own (Locust patches the
    standard library with gevent when imported)."""
    code = (
        "import json, tests.load.locustfile as f\n"
        "users = [f.FrontDesk, f.Nurse, f.Clinician, f.Patient]\n"
        "print(json.dumps({u.__name__: {'per_hour': u.per_hour,"
        " 'weights': {t.__name__: u.tasks.count(t) for t in set(u.tasks)}} for u in users}))"
    )
    env = {**os.environ, "LOAD_WORLD": str(path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_each_clinic_gets_logins_that_work_and_work_to_do(world, client):
    world, _ = world
    assert len(world["clinics"]) == 2
    # The logins are a day's (the world's day), as a load run uses them straight away.
    with time_machine.travel(WORKDAY + dt.timedelta(minutes=5), tick=True):
        _logins_work(world, client)


def _logins_work(world, client):
    for clinic in world["clinics"]:
        staff = clinic["staff"]
        board = f"/api/v1/day-board/?clinic={clinic['id']}&date={clinic['day']}"
        token = {"HTTP_AUTHORIZATION": f"Token {staff['front_desk']['token']}"}
        assert client.get(board, **token).status_code == 200
        client.cookies[settings.SESSION_COOKIE_NAME] = staff["nurse"]["session"]
        assert client.get("/nurse/today/").status_code == 200
        patient = clinic["patients"][0]
        client.cookies[settings.SESSION_COOKIE_NAME] = patient["session"]
        assert client.get("/portal/").status_code == 200
        assert client.get(f"/calendar/{patient['calendar']}.ics").status_code == 200
        assert client.get(f"/reminders/answer/{patient['respond']}/").status_code == 200
        assert any(s["status"] == "booked" for s in clinic["charting"])
        assert clinic["sign_off"]["answer"]


def test_the_rates_are_the_ones_the_profile_states(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"clinics": [], "session_cookie": "sessionid"}))
    classes = _locust_classes(path)
    stated = {"FrontDesk": 294, "Nurse": 729, "Clinician": 39, "Patient": 132}
    for name, total in stated.items():
        assert sum(classes[name]["per_hour"].values()) == total
        # Each task's weight is its requests an hour.
        assert classes[name]["weights"] == classes[name]["per_hour"]
    doc = (ROOT / "tests" / "load" / "locustfile.py").read_text()
    assert f"a clinic    {sum(stated.values()):,}" in doc


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="many writers at once against the live server: PostgreSQL (CI stage 4)",
)
def test_the_profile_runs_against_the_product_without_a_failure(
    world, live_server, tmp_path, settings
):
    """Every user of the mix, 300 times faster than life, for 20 seconds."""
    # Every load user comes from 127.0.0.1: the per-address limits are for real ones.
    settings.RATELIMIT_LOGIN = settings.RATELIMIT_PUBLIC_LINK = "1000000/m"
    _, path = world
    prefix = tmp_path / "smoke"
    env = {**os.environ, "LOAD_WORLD": str(path), "LOAD_SPEED": "300", "PYTHONPATH": str(ROOT)}
    with time_machine.travel(WORKDAY + dt.timedelta(minutes=5), tick=True):
        subprocess.run(
            [str(Path(sys.executable).parent / "locust"), "-f", "tests/load/locustfile.py",
             "--headless", "--host", live_server.url, "--users", "8", "--spawn-rate", "8",
             "--run-time", "20s", "--csv", str(prefix), "--only-summary", "--stop-timeout", "5"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    failures = (tmp_path / "smoke_failures.csv").read_text().splitlines()[1:]
    assert failures == []
    with open(f"{prefix}_stats.csv") as f:
        seen = {line.split(",")[1].strip('"') for line in f.read().splitlines()[1:]}
    expected = ["api: day board", "page: day board (htmx poll)", "api: chart", "page: chart",
                "api: check in", "api: vitals", "calendar feed",
                "page: portal"]  # fmt: skip
    assert set(expected) <= seen
