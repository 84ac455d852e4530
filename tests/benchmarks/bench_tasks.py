"""Loaded into the benchmark's Celery worker (-I): a no-op task, and an e-mail backend
that builds each message as SMTP would (MIME, to bytes) and counts it in Redis."""

import os

import redis
from celery import shared_task
from django.core.mail.backends.base import BaseEmailBackend

COUNTER = "bench:emails"


@shared_task(name="bench.noop")
def noop() -> None:
    return None


class CountingEmailBackend(BaseEmailBackend):
    """Builds every message to bytes as the SMTP backend would, counts it in memory, and
    adds the count to Redis when the connection closes (once per batch)."""

    _client = None

    def open(self) -> bool:
        self.count = 0
        return True

    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            message.message().as_bytes(linesep="\r\n")
        self.count = getattr(self, "count", 0) + len(email_messages)
        return len(email_messages)

    def close(self) -> None:
        if getattr(self, "count", 0):
            if CountingEmailBackend._client is None:
                CountingEmailBackend._client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
            CountingEmailBackend._client.incrby(COUNTER, self.count)
            self.count = 0
