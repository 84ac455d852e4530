"""The performance benchmark of issue 8, end to end: `make bench`.

    python -m tests.benchmarks.bench [--quick] [--keep]

1. Two dedicated PostgreSQL databases, dropped first: infusion_bench_small (10,000
   sessions) and infusion_bench (1,000,000 sessions, 10,000,000 vitals), migrated and
   filled by `manage.py generate_data` (timed).
2. Against each: gunicorn (2 sync workers, DEBUG off) and a Celery worker on Redis db 13,
   on 127.0.0.1 only; a small load client of our own (tests/benchmarks/loadgen.py).
   - the day board API for one clinic and its busiest day: p50/p95 at both sizes;
   - at full size: vitals POST through the API beside a bare view doing the same single
     INSERT (mounted only with BENCH=1), same run, same concurrency, in alternating
     rounds (the share is their median);
   - course generation and booking throughput (the services, called in process);
   - the Celery no-op task rate; reminder dispatch read from bench_reminders.json;
   - peak RSS of a gunicorn worker and of a Celery worker, sampled from /proc.
3. EXPLAIN (ANALYZE, BUFFERS) of the hot queries (from the code, not hand-written), with
   their values and as the generic plan a prepared statement may switch to.
4. A table on stdout, the plans, and test-artifacts/bench.json.

Every request loop is bounded in count and time, and only 127.0.0.1 is ever contacted.
"""

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import loadgen

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PY = sys.executable
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13")
PORT = int(os.environ.get("BENCH_PORT", "8765"))
WORKERS = 2

TARGET_BOARD_P95_MS = 25.0
TARGET_BOARD_RATIO = 1.5
TARGET_VITALS_SHARE = 0.5


def _env(db: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"{PG}/{db}",
        CELERY_BROKER_URL=REDIS,
        DEBUG="0",
        SECRET_KEY="bench-only-not-a-secret-" + "x" * 40,
        BENCH="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
        DATA_DIR=str(ROOT / "data" / "bench"),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict, **kw) -> str:
    out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"failed: {' '.join(args)}")
    return out.stdout


def _inproc(step: str, db: str) -> dict:
    out = _run([PY, "-m", "tests.benchmarks.inproc", step], _env(db))
    return json.loads(out.strip().splitlines()[-1])


def database_fill(*, db: str, scale: str) -> float:
    """Drop, create, migrate and generate; the generator's own elapsed time."""
    host = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["dropdb", *host, "--if-exists", "--force", db], check=True)
    subprocess.run(["createdb", *host, db], check=True)
    env = _env(db)
    _run([PY, "manage.py", "migrate", "--no-input", "-v0"], env)
    out = _run([PY, "manage.py", "generate_data", "--scale", scale], _env(db, DEBUG="1"))
    print(out.rstrip())
    return float(re.search(r" in ([\d.]+) s", out.splitlines()[-1]).group(1))


# --- Processes and their memory ------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ms(root: int) -> float:
    """CPU time used so far by a server's workers (its children), in ms. Per request it
    is the figure a busy shared machine barely moves, unlike wall-clock latency."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _children(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total * 1000 / tick


class Peaks(threading.Thread):
    """Samples the resident memory of each process's workers (its children) every 0.1 s."""

    def __init__(self, roots: dict[str, int]):
        super().__init__(daemon=True)
        self.roots, self.peak = roots, dict.fromkeys(roots, 0.0)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for name, root in self.roots.items():
                pids = _children(root) or [root]
                self.peak[name] = max([self.peak[name], *(_rss_mb(p) for p in pids)])
            self.stop.wait(0.1)


_LOGS: list = []


def servers_start(db: str) -> dict[str, subprocess.Popen]:
    env = _env(db)
    logs = ARTIFACTS / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Left open for the servers' lifetime; closed with them in servers_stop.
    web_log = open(logs / f"gunicorn-{db}.log", "w")  # noqa: SIM115
    worker_log = open(logs / f"celery-{db}.log", "w")  # noqa: SIM115
    _LOGS.extend([web_log, worker_log])
    web = subprocess.Popen(
        [PY, "-m", "gunicorn", "clinic.wsgi", "--bind", f"127.0.0.1:{PORT}",
         "--workers", str(WORKERS), "--worker-class", "sync", "--access-logfile", "-"],
        env=env, cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [PY, "-m", "celery", "-A", "clinic", "worker", "--concurrency", "1", "--pool", "prefork",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(100):
        try:
            r = loadgen.run(port=PORT, requests=[("GET", "/healthz", None)], headers={})
            if r.count:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        raise SystemExit("gunicorn did not answer on 127.0.0.1")
    return {"web": web, "worker": worker}


def servers_stop(procs: dict[str, subprocess.Popen]) -> None:
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    for log in _LOGS:
        log.close()
    _LOGS.clear()


# --- Measurements ---------------------------------------------------------------------------


def day_board(setup: dict, *, requests: int, web: int) -> dict:
    path = f"/api/v1/day-board/?clinic={setup['clinic']}&date={setup['day']}"
    headers = {"Authorization": f"Token {setup['tokens']['front_desk']}"}
    loadgen.run(port=PORT, requests=[("GET", path, None)] * 30, headers=headers)  # warm up
    cpu = cpu_ms(web)
    r = loadgen.run(port=PORT, requests=[("GET", path, None)] * requests, headers=headers,
                    clients=1, time_limit=120)  # fmt: skip
    cpu = (cpu_ms(web) - cpu) / max(1, r.count)
    assert r.errors == 0, r.statuses
    return {"requests": r.count, "p50_ms": r.percentile(50), "p95_ms": r.percentile(95),
            "max_ms": max(r.latencies_ms), "per_s": r.rate, "worker_cpu_ms": cpu,
            "load_1min": _load()}  # fmt: skip


def _load() -> float:
    # The machine may be shared (other test suites): the 1-minute load average says how
    # busy it was while a figure was taken; above the 2 cores, figures are pessimistic.
    return os.getloadavg()[0]


def vitals_post(setup: dict, *, requests: int, web: int, clients: int = 4, rounds: int = 5) -> dict:
    """The API's vitals POST beside the bare INSERT, in `rounds` rounds of each, back to
    back (bare first, then API first, in turn): this machine's speed drifts by a fifth
    or more within minutes, and a round of each sees the same machine. The share is the
    median of the rounds' shares (the rates and CPU figures are each their own median);
    every round is in the report."""
    sessions = setup["charting_sessions"]
    body = {"timepoint": "after", "systolic": 122, "diastolic": 78, "heart_rate": 72, "spo2": 98}
    json_headers = {"Content-Type": "application/json"}
    api_headers = {**json_headers, "Authorization": f"Token {setup['tokens']['nurse']}"}
    kinds = {
        "bare": ("/bench/bare-vitals/", json_headers, {"recorded_by": setup["nurse_id"]}),
        "api": ("/api/v1/vitals/", api_headers, {}),
    }

    def batch(kind, n):
        path, _headers, extra = kinds[kind]
        return [("POST", path, {**body, "session": sessions[i % len(sessions)], **extra})
                for i in range(n)]  # fmt: skip

    def measure(kind, n):
        cpu = cpu_ms(web)
        r = loadgen.run(port=PORT, requests=batch(kind, n), headers=kinds[kind][1],
                        clients=clients, time_limit=120)  # fmt: skip
        assert r.errors == 0, (kind, r.statuses)
        return r, (cpu_ms(web) - cpu) / max(1, r.count)

    for kind in kinds:  # warm up
        measure(kind, 50)
    per_round = max(100, requests // rounds)
    runs = []
    for i in range(rounds):  # each kind first in turn
        order = ("bare", "api") if i % 2 == 0 else ("api", "bare")
        done = {kind: measure(kind, per_round) for kind in order}
        (bare, bare_cpu), (api, api_cpu) = done["bare"], done["api"]
        runs.append({
            "bare_per_s": bare.rate, "api_per_s": api.rate, "share": api.rate / bare.rate,
            "bare_worker_cpu_ms": bare_cpu, "api_worker_cpu_ms": api_cpu,
            "bare_p50_ms": bare.percentile(50), "api_p50_ms": api.percentile(50),
            "bare_p95_ms": bare.percentile(95), "api_p95_ms": api.percentile(95),
        })  # fmt: skip

    def median(key):
        return statistics.median(run[key] for run in runs)

    shares = [run["share"] for run in runs]
    return {
        "clients": clients, "rounds": runs, "requests_per_round": per_round,
        "api_per_s": median("api_per_s"), "api_p50_ms": median("api_p50_ms"),
        "api_p95_ms": median("api_p95_ms"), "bare_per_s": median("bare_per_s"),
        "bare_p50_ms": median("bare_p50_ms"), "bare_p95_ms": median("bare_p95_ms"),
        "share_of_bare": statistics.median(shares), "share_min": min(shares),
        "share_max": max(shares), "api_worker_cpu_ms": median("api_worker_cpu_ms"),
        "bare_worker_cpu_ms": median("bare_worker_cpu_ms"), "load_1min": _load(),
    }  # fmt: skip


def reminders_report(path: Path = ARTIFACTS / "bench_reminders.json") -> dict | None:
    """The reminders branch's own benchmark (make bench-reminders), read loosely: its
    figures are found by the words in their keys, so a renamed key costs a blank, not
    a crash."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    flat = _flatten(data)

    def pick(*words, exclude=("cpu", "publish", "plan", "sweep", "target")):
        for key, value in flat.items():
            k = key.lower()
            if any(x in k for x in exclude) or isinstance(value, bool):
                continue
            if all(w in k for w in words) and isinstance(value, int | float):
                return value
        return None

    return {
        "dispatch_per_s": pick("dispatch", "per_s") or pick("reminder", "per_s"),
        "noop_per_s": pick("noop", "per_s") or pick("no_op", "per_s"),
        "reminders": pick("reminders.reminders") or pick("reminder", "count"),
        "seconds": pick("reminders.seconds") or pick("dispatch", "seconds"),
        "raw": data,
    }


def _flatten(data, prefix="") -> dict:
    out = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix.rstrip(".")] = data
    return out


# --- The run -------------------------------------------------------------------------------


def machine() -> dict:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
    show = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"]
    pg = subprocess.run(show, capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "cpu": cpu[0].split(":")[1].strip() if cpu else "?",
            "ram_gib": round(int(mem) / 1024 / 1024, 1), "postgresql": pg,
            "python": platform.python_version(), "gunicorn_workers": WORKERS}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small database only (a smoke run)")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the databases")
    parser.add_argument("--requests", type=int, default=500, help="day board requests per size")
    args = parser.parse_args()
    ARTIFACTS.mkdir(exist_ok=True)
    report: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    began = time.monotonic()
    sizes = [("10k", "small", "infusion_bench_small")]
    if not args.quick:
        sizes.append(("1M", "full", "infusion_bench"))
    peaks = {"web": 0.0, "worker": 0.0}
    for label, scale, db in sizes:
        print(f"\n=== {label} sessions ({db}) ===", flush=True)
        if not args.skip_generate:
            report[f"generate_{label}_s"] = database_fill(db=db, scale=scale)
        setup = _inproc("setup", db)
        report[f"setup_{label}"] = {k: v for k, v in setup.items() if k != "tokens"}
        procs = servers_start(db)
        sampler = Peaks({"web": procs["web"].pid, "worker": procs["worker"].pid})
        sampler.start()
        try:
            report[f"day_board_{label}"] = day_board(
                setup, requests=args.requests, web=procs["web"].pid
            )
            print("day board", report[f"day_board_{label}"], flush=True)
            if scale == sizes[-1][1]:
                report["vitals_post"] = vitals_post(setup, requests=2000, web=procs["web"].pid)
                print("vitals POST", report["vitals_post"], flush=True)
                report["services"] = _inproc("services", db)
                print("services", report["services"], flush=True)
                report["celery_noop"] = _inproc("noop", db)
                print("celery no-op", report["celery_noop"], flush=True)
                report["explain"] = _inproc("explain", db)
        finally:
            sampler.stop.set()
            sampler.join()
            servers_stop(procs)
        for name in peaks:
            peaks[name] = max(peaks[name], sampler.peak[name])
    report["peak_rss_mb"] = peaks
    report["reminders"] = reminders_report()
    report["elapsed_s"] = time.monotonic() - began
    report["targets"] = targets(report)
    plans(report)
    table(report)
    (ARTIFACTS / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nreport: {ARTIFACTS / 'bench.json'}  ({report['elapsed_s']:.0f} s in all)")


def targets(r: dict) -> dict:
    out = {}
    if "day_board_1M" in r:
        big, small = r["day_board_1M"]["p95_ms"], r["day_board_10k"]["p95_ms"]
        out["board p95 <= 25 ms at 1M"] = big <= TARGET_BOARD_P95_MS
        out["board p95 at 1M <= 1.5 x at 10k"] = big <= TARGET_BOARD_RATIO * small
    if "vitals_post" in r:
        out["vitals POST >= half the bare INSERT"] = (
            r["vitals_post"]["share_of_bare"] >= TARGET_VITALS_SHARE
        )
    if "generate_1M_s" in r:
        out["full generation < 10 min"] = r["generate_1M_s"] < 600
    out["no sequential scan of a big table in a hot query"] = not any(
        p["seq_scans"] for p in r.get("explain", {}).values()
    )
    return out


def plans(r: dict) -> None:
    for name, p in r.get("explain", {}).items():
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS): {name} ---\n{p['plan']}")
        print(f"\n--- the same, generic plan (a prepared statement's) ---\n{p['generic_plan']}")


def table(r: dict) -> None:
    rows = []

    def add(what, value, target=""):
        rows.append((what, value, target))

    for label in ("10k", "1M"):
        if f"generate_{label}_s" in r:
            add(f"generate {label} sessions", f"{r[f'generate_{label}_s']:.0f} s",
                "< 600 s" if label == "1M" else "")  # fmt: skip
    for label in ("10k", "1M"):
        b = r.get(f"day_board_{label}")
        if b:
            n = r[f"setup_{label}"]["total_sessions"]
            add(f"day board p50 / p95 ({n:,} sessions)",
                f"{b['p50_ms']:.1f} / {b['p95_ms']:.1f} ms, worker CPU "
                f"{b['worker_cpu_ms']:.1f} ms (load {b['load_1min']:.1f})",
                "p95 <= 25 ms, <= 1.5 x 10k" if label == "1M" else "")  # fmt: skip
    v = r.get("vitals_post")
    if v:
        add(f"vitals POST, API ({v['clients']} clients)",
            f"{v['api_per_s']:.0f}/s (p50 {v['api_p50_ms']:.1f} ms, "
            f"worker CPU {v['api_worker_cpu_ms']:.1f} ms; load {v['load_1min']:.1f})")  # fmt: skip
        add("vitals INSERT, bare view",
            f"{v['bare_per_s']:.0f}/s (p50 {v['bare_p50_ms']:.1f} ms, "
            f"worker CPU {v['bare_worker_cpu_ms']:.1f} ms)")  # fmt: skip
        add(f"API share of bare (median of {len(v['rounds'])} rounds)",
            f"{v['share_of_bare']:.2f} (rounds {v['share_min']:.2f} to {v['share_max']:.2f})",
            ">= 0.50")  # fmt: skip
    s = r.get("services")
    if s:
        per_s = f"{s['courses_per_s']:.1f} courses/s ({s['course_sessions_per_s']:.0f} sessions/s)"
        add("course generation (course_start)", per_s)
        add("booking (session_book)", f"{s['bookings_per_s']:.1f}/s")
    n = r.get("celery_noop")
    if n:
        add("Celery no-op tasks (1 worker process)", f"{n['tasks_per_s']:.0f}/s")
    rem = r.get("reminders")
    if rem:
        disp, noop = rem.get("dispatch_per_s"), rem.get("noop_per_s")
        figure = f"{disp:.0f}/s" if disp else "see bench_reminders.json"
        if noop:
            figure += f" (its no-op tasks: {noop:.0f}/s)"
        add("reminder dispatch (bench_reminders.json)", figure)
    else:
        add("reminder dispatch", "not measured: run make bench-reminders")
    p = r["peak_rss_mb"]
    add("peak RSS, gunicorn worker", f"{p['web']:.0f} MB")
    add("peak RSS, Celery worker", f"{p['worker']:.0f} MB")
    width = max(len(w) for w, _, _ in rows)
    vwidth = max(len(v) for _, v, _ in rows)
    m = r["machine"]
    print(f"\nmachine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB, PostgreSQL "
          f"{m['postgresql']}, Python {m['python']}, "
          f"gunicorn {m['gunicorn_workers']} sync workers")  # fmt: skip
    print(f"| {'measure':{width}} | {'figure':{vwidth}} | target |")
    print(f"|{'-' * (width + 2)}|{'-' * (vwidth + 2)}|--------|")
    for what, value, target in rows:
        print(f"| {what:{width}} | {value:{vwidth}} | {target} |")
    print()
    for name, ok in r["targets"].items():
        print(f"{'MET ' if ok else 'MISSED'}  {name}")


if __name__ == "__main__":
    main()
