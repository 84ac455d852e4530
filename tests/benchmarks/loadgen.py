"""A small load client for loopback benchmarks: threads, http.client, bounded counts.

Only 127.0.0.1: the benchmark never sends traffic anywhere else.
"""

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[k]


def _request(conn, method, path, body, headers):
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def run(
    *,
    port: int,
    requests: list[tuple[str, str, dict | None]],
    headers: dict[str, str],
    clients: int = 1,
    time_limit: float = 120.0,
) -> Result:
    """Send `requests` (method, path, JSON body) over `clients` threads, each keeping its
    connection open while the server allows; stop early at `time_limit` seconds."""
    result = Result()
    lock = threading.Lock()
    queue = list(reversed(requests))
    deadline = time.monotonic() + time_limit

    def worker():
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    break
                method, path, body = queue.pop()
            data = json.dumps(body).encode() if body is not None else None
            start = time.perf_counter()
            try:
                status = _request(conn, method, path, data, headers)
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                try:
                    status = _request(conn, method, path, data, headers)
                except (http.client.HTTPException, OSError):
                    with lock:
                        result.errors += 1
                    continue
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status >= 400:
                    result.errors += 1
                else:
                    result.latencies_ms.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - began
    return result
