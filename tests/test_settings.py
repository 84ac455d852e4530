"""Settings come from the environment, with safe defaults only for development."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({'db': settings.DATABASES['default']['ENGINE'], "
    "'name': str(settings.DATABASES['default']['NAME']), 'broker': settings.CELERY_BROKER_URL, "
    "'tz': settings.TIME_ZONE, 'use_tz': settings.USE_TZ, 'email': settings.EMAIL_BACKEND, "
    "'debug': settings.DEBUG, 'key': settings.SECRET_KEY, "
    "'options': settings.DATABASES['default'].get('OPTIONS', {})}))"
)


def run_settings(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_BACKEND"}
    }
    clean.update(DJANGO_SETTINGS_MODULE="clinic.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_settings({"DEBUG": "0"}, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_development_defaults_need_no_server(tmp_path):
    result = run_settings({"DEBUG": "1"}, tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "infusion.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["email"] == "django.core.mail.backends.filebased.EmailBackend"
    assert values["use_tz"] is True
    assert (tmp_path / "broker" / "queue").is_dir()


def test_production_reads_everything_from_the_environment(tmp_path):
    result = run_settings(
        {
            "DEBUG": "0",
            "SECRET_KEY": "a-real-secret",
            "DATABASE_URL": "postgres://u:p@db.internal:5432/infusion",
            "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
            "TIME_ZONE": "Europe/London",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["db"] == "django.db.backends.postgresql"
    assert values["name"] == "infusion"
    assert values["broker"] == "redis://redis.internal:6379/0"
    assert values["tz"] == "Europe/London"
    assert values["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert values["debug"] is False and values["key"] == "a-real-secret"
    # Django's own binding, no prepared statements: a pooler in transaction mode works.
    assert "server_side_binding" not in values["options"]
    assert "prepare_threshold" not in values["options"]


def test_a_malformed_database_url_stops_start_up(tmp_path):
    result = run_settings({"DEBUG": "1", "DATABASE_URL": "nonsense://x"}, tmp_path)
    assert result.returncode != 0


def test_time_is_stored_in_utc():
    assert settings.USE_TZ is True
