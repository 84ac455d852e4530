"""Text messages: a small backend interface, like Django's e-mail backends.

`SMS_BACKEND` names the class. The default writes each message to a file in
DATA_DIR/sms; `ConsoleSmsBackend` prints; `LocmemSmsBackend` keeps an outbox for
tests; `TwilioSmsBackend` sends through the official `twilio` client. A backend returns
the provider's message id, or raises `SmsError` saying whether a retry may help.
"""

import itertools
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """Sending failed. `transient`: the same message may succeed later."""

    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164, e.g. +447700900123
    body: str
    status_callback: str | None = None  # where the provider reports delivery, if it can


class BaseSmsBackend:
    def send(self, message: SmsMessage) -> str:
        """Send one message and return the provider's id for it."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> str:
        message_id = f"console-{uuid.uuid4()}"
        print(f"SMS {message_id} to {message.to}:\n{message.body}\n", flush=True)  # noqa: T201
        return message_id


class FileSmsBackend(BaseSmsBackend):
    """One file per message in SMS_FILE_PATH, where a developer can read it."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, message: SmsMessage) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        message_id = f"file-{uuid.uuid4()}"
        (self.path / f"{message_id}.txt").write_text(f"To: {message.to}\n\n{message.body}\n")
        return message_id


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps messages in `LocmemSmsBackend.outbox`, like Django's locmem e-mail backend."""

    outbox: list[SmsMessage] = []
    _ids = itertools.count(1)
    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> str:
        with self._lock:
            LocmemSmsBackend.outbox.append(message)
            return f"locmem-{next(self._ids)}"


class TwilioSmsBackend(BaseSmsBackend):
    """Twilio's Messages API through the official client.

    `client` may be injected (tests pass one whose HTTP client is fake); otherwise one is
    built from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN with a short HTTP timeout, so a
    slow provider cannot hold a worker for long.
    """

    TIMEOUT_SECONDS = 10

    def __init__(self, client=None, from_number: str | None = None):
        if client is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            client = Client(
                settings.TWILIO_ACCOUNT_SID,
                settings.TWILIO_AUTH_TOKEN,
                http_client=TwilioHttpClient(timeout=self.TIMEOUT_SECONDS),
            )
        self.client = client
        self.from_number = from_number or settings.TWILIO_FROM_NUMBER

    def send(self, message: SmsMessage) -> str:
        from requests.exceptions import RequestException
        from twilio.base.exceptions import TwilioException, TwilioRestException

        kwargs = {"to": message.to, "from_": self.from_number, "body": message.body}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            created = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            # 429 and 5xx may pass; any other 4xx (bad number, unsubscribed) will not.
            transient = exc.status == 429 or exc.status >= 500
            raise SmsError(f"Twilio {exc.status} error {exc.code}", transient=transient) from exc
        except (RequestException, OSError) as exc:
            raise SmsError(f"Twilio unreachable: {type(exc).__name__}", transient=True) from exc
        except TwilioException as exc:
            raise SmsError(f"Twilio client error: {type(exc).__name__}", transient=False) from exc
        return created.sid


def get_sms_backend(path: str | None = None) -> BaseSmsBackend:
    return import_string(path or settings.SMS_BACKEND)()


def twilio_signature_valid(*, url: str, params: dict, signature: str) -> bool:
    """Whether a status callback really comes from Twilio (X-Twilio-Signature)."""
    from twilio.request_validator import RequestValidator

    if not settings.TWILIO_AUTH_TOKEN or not signature:
        return False
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature)
