"""Helpers the reminder worker tests load into a real Celery worker (not a test module)."""

import os
import time

from django.core.mail.backends.smtp import EmailBackend


class SlowSmtpBackend(EmailBackend):
    """SMTP, but each message waits REMINDER_TEST_EMAIL_DELAY seconds first: a slow
    transport, so a test can kill the worker in the middle of a batch."""

    def send_messages(self, email_messages):
        time.sleep(float(os.environ.get("REMINDER_TEST_EMAIL_DELAY", "0.2")))
        return super().send_messages(email_messages)
