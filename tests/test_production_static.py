"""Static files as production builds them: collectstatic with a manifest storage, then
pages rendered from that manifest with DEBUG off."""

import re

from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client

from scheduling.reminders.content import session_response_token

# Production's storage (settings, DEBUG off) is whitenoise's subclass of this one, which
# also compresses every file: seconds more, and not where a build fails on a reference.
# .ci/production builds with the real settings and serves the result through gunicorn.
MANIFEST_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def test_static_files_collect_for_production_and_the_login_and_answer_pages_link_hashed_names(
    settings, tmp_path, iv_session
):
    settings.DEBUG = False
    settings.STATIC_ROOT = collected = tmp_path / "static"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
    call_command("collectstatic", interactive=False, verbosity=0)

    hashed_css = staticfiles_storage.stored_name("clinic/app.css")
    assert re.fullmatch(r"clinic/app\.[0-9a-f]{12}\.css", hashed_css)
    assert (collected / hashed_css).is_file()

    token = session_response_token(session_id=iv_session.pk, starts_at=iv_session.starts_at)
    for url in ("/accounts/login/", f"/reminders/answer/{token}/"):
        page = Client().get(url)
        assert page.status_code == 200, url
        assert f"/static/{hashed_css}" in page.content.decode(), url
