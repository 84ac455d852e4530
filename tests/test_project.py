"""The project's own files: migrations complete, deployment described, commands documented."""

import re
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def test_no_model_change_is_missing_a_migration(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_postgres_redis_web_worker_and_one_beat():
    services = compose()["services"]
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["web"]["command"][0] == "gunicorn"
    assert "clinic.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "clinic", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "clinic", "beat"]
    assert services["beat"]["deploy"]["replicas"] == 1


def test_no_channel_beside_the_workers_task_channel_needs_redis_to_close():
    # An auto-deleted fanout queue (remote control's, gossip's) on the worker's connection
    # made a Redis outage kill a busy worker (README, Broker outages).
    from django.conf import settings

    assert settings.CELERY_CONTROL_QUEUE_DURABLE is True
    worker = compose()["services"]["worker"]["command"]
    assert "--without-gossip" in worker and "--without-mingle" in worker
    procfile = (ROOT / "Procfile").read_text()
    assert "--without-gossip" in procfile and "--without-mingle" in procfile


def test_compose_wires_every_app_service_to_the_database_and_broker_from_the_environment():
    services = compose()["services"]
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, no default
        assert env["DEBUG"] == "0"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in services["db"] and "healthcheck" in services["redis"]


def test_the_procfile_runs_web_worker_and_beat():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(lines) == {"web", "worker", "beat"}
    assert "celery -A clinic worker" in lines["worker"]
    assert "celery -A clinic beat" in lines["beat"]


def test_the_procfile_starts_the_worker_and_beat_again_when_they_exit(tmp_path):
    # honcho restarts nothing, and stops every process when one exits: a worker that
    # dies (say, on a broker outage) must be started again by its own line.
    import contextlib
    import os
    import signal
    import subprocess

    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    runs = tmp_path / "runs"
    fake = tmp_path / "bin" / "celery"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$3" >> {runs}\nexit 1\n')
    fake.chmod(0o755)
    for name in ("worker", "beat"):
        runs.write_text("")
        proc = subprocess.Popen(
            ["sh", "-c", lines[name]],
            env={"PATH": f"{fake.parent}:/usr/bin:/bin"},
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        finally:
            with contextlib.suppress(ProcessLookupError):  # the shell and its sleep
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert runs.read_text().split() == [name, name], f"{name} was not started again"


def test_compose_restarts_a_worker_or_beat_that_exits():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped"


def test_the_readme_quick_start_has_exactly_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = quick_start.split("```")[1::2]
    commands = [
        line.strip()
        for block in blocks
        for line in block.splitlines()[1:]
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands == ["make run", "make test"]


def _heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings (lower case, punctuation dropped)."""
    anchors = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif line.startswith("#") and not in_code:
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_the_readme_and_docs_link_only_to_files_and_headings_that_exist():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in _heading_anchors(linked.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_ci_runs_the_readme_test_command_and_postgres():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.count("make test") == 2
    assert 'DATABASE_URL="postgres://' in ci
    assert "makemigrations --check" in ci
    assert "bash .ci/schemathesis" in ci
    assert "bash .ci/production" in ci
    fuzz = (ROOT / ".ci" / "schemathesis").read_text()
    assert "--mode all --checks all" in fuzz and "Authorization: Token" in fuzz


def test_the_celery_app_schedules_the_horizon_extension():
    from clinic.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "scheduling.tasks.courses_extend_horizon" in tasks
    assert "scheduling.tasks.courses_extend_horizon" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_an_emptied_database_gets_its_built_in_data_back():
    from django.contrib.auth.models import Group

    from patients.models import Contraindication
    from scheduling.booking.models import Protocol

    call_command("flush", interactive=False, verbosity=0)

    codes = set(Protocol.objects.filter(clinic=None).values_list("code", flat=True))
    assert codes == {"iv-standard", "iv-six-in-twelve", "esketamine-trd", "esketamine-mdsi"}
    assert Contraindication.objects.count() >= 16
    assert Protocol.objects.get(code="esketamine-trd").contraindications.count() >= 16
    assert Group.objects.filter(name="Front desk").exists()


@pytest.mark.django_db
def test_a_clinics_edits_to_built_in_data_are_never_undone():
    from clinic.roles import sync_role_groups  # noqa: F401  (the other post_migrate step)
    from scheduling.booking.builtin import builtin_data_ensure
    from scheduling.booking.models import Protocol

    protocol = Protocol.objects.get(code="iv-six-in-twelve")
    protocol.delete()
    builtin_data_ensure()
    assert not Protocol.objects.filter(code="iv-six-in-twelve").exists()
