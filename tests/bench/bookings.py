"""Benchmark: the portal under gunicorn on PostgreSQL — a ceiling, a booking rush, gate scans.

In one run, against the same server:

- ceiling: a trivial view that makes one database query (``/healthz/db``);
- rush: 2,000 booking attempts through the API on one day's slots, 64 at a time; more
  attempts than places, so many end "full";
- scans: 16 scanners at once post the passes just booked to the gate's scan API.

Prints throughput, p50/p95/p99 latency, each phase's ratio to the ceiling, bookings made
against capacity (and any slot over it), errors other than "full", queries per scan, and
the load generator's own CPU use, so that a saturated client shows.
Targets: rush under 20 s, none overbooked, no errors but "full"; booking throughput at
least 0.35 of the ceiling; scan p99 under 50 ms with at most 6 queries per scan.

    make bench            # PostgreSQL on 127.0.0.1:5432; BENCH_DATABASE_URL overrides
"""

import asyncio
import base64
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ATTEMPTS = int(os.environ.get("BENCH_ATTEMPTS", "2000"))
CONCURRENCY = 64
SCANNERS = 16
CEILING_REQUESTS = int(os.environ.get("BENCH_CEILING_REQUESTS", "4000"))
# One day of the energy lane at a 24-hour port: 24 one-hour slots.
PLACES_PER_SLOT = int(os.environ.get("BENCH_PLACES_PER_SLOT", "60"))
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", str(2 * (os.cpu_count() or 2) + 1)))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/landport_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")


def flush_redis():
    import redis

    for db in (11, 12):
        redis.Redis.from_url(f"{REDIS_URL}/{db}").flushdb()


def ensure_database():
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment() -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "LANDPORT_ENV": "development",
        "DEBUG": "0",
        "DATABASE_URL": DATABASE_URL,
        # Redis as in production: the cache (API throttling) and the broker the requests
        # queue their notification tasks on. No worker runs: the benchmark measures the
        # requests, and the queued tasks are dropped with the database afterwards.
        "CELERY_BROKER_URL": f"{REDIS_URL}/12",
        "CACHE_URL": f"{REDIS_URL}/11",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SMS_TRANSPORT": "notifications.transports.ConsoleSmsTransport",
        "API_USER_RATE": "1000000/minute",
        "LOG_LEVEL": "ERROR",  # "full" answers are 400s, logged as warnings
        "LANDPORT_VAR_DIR": str(ROOT / "var" / "bench"),
        "PASS_KEYS_DIR": str(ROOT / "var" / "bench" / "pass-keys"),
    }


def prepare():
    """The data: a firm, a dispatcher and an officer with API tokens, one accepted
    declaration per truck, the 24 slots of one port day."""
    import django

    django.setup()
    from datetime import datetime, timedelta

    from allauth.mfa.totp.internal.auth import TOTP
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from bookings import services as bookings
    from bookings.models import BookingPolicy, Lane, Slot
    from declarations.models import Declaration
    from portal import roles
    from portal.models import Membership, Organisation, Port, User, Vehicle
    from portal.plates import plate_normalise

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    port = Port.objects.get(code="KHG")
    firm = Organisation.objects.create(name="Bench Cargo", country="KZ", registration_number="040840000550")
    dispatcher = User.objects.create_user(email="dispatcher@bench.example", password=None)
    Membership.objects.create(user=dispatcher, organisation=firm, role="dispatcher")
    officer = User.objects.create_user(email="officer@bench.example", password=None, is_staff=True)
    officer.groups.add(Group.objects.get(name=roles.BORDER_INSPECTION_OFFICER))
    officer.ports.add(port)
    TOTP.activate(officer, base64.b32encode(os.urandom(20)).decode())  # the gate wants MFA
    plates = [f"{n % 1000:03d} BEN {n // 1000:02d}" for n in range(ATTEMPTS)]
    vehicles = Vehicle.objects.bulk_create(
        Vehicle(organisation=firm, plate=p, plate_normalised=plate_normalise(p), country="KZ", kind="tractor")
        for p in plates
    )
    declarations = Declaration.objects.bulk_create(
        Declaration(
            reference=f"KHG-BENCH-{n:05d}",
            organisation=firm,
            declarant=dispatcher,
            port=port,
            direction="import",
            cargo_category="energy",
            vehicle=vehicle,
            status="accepted",
            channel="green",
        )
        for n, vehicle in enumerate(vehicles)
    )
    day = (timezone.localtime(timezone.now(), bookings.port_zone(port)) + timedelta(days=1)).date()
    bookings.slots_ensure(port, day, day)
    lane = Lane.objects.get(port=port, type="energy", direction="inbound")
    start = datetime.combine(day, datetime.min.time(), tzinfo=bookings.port_zone(port))
    slots = list(Slot.objects.filter(lane=lane, starts_at__gte=start).order_by("starts_at")[:24])
    Slot.objects.filter(pk__in=[s.pk for s in slots]).update(capacity=PLACES_PER_SLOT)
    # The slots are tomorrow's: the gate admits them today only with a wide early tolerance.
    BookingPolicy.objects.filter(port=port).update(early_minutes=3 * 24 * 60)
    return {
        "dispatcher_token": Token.objects.create(user=dispatcher).key,
        "officer_token": Token.objects.create(user=officer).key,
        "declarations": [d.pk for d in declarations],
        "slots": [s.pk for s in slots],
        "capacity": PLACES_PER_SLOT * len(slots),
        "port": port.code,
    }


def start_server(port: int, settings: str = "portal.settings") -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi",
            f"--bind=127.0.0.1:{port}",
            f"--workers={GUNICORN_WORKERS}",
            "--worker-class=gthread",
            "--threads=4",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env={**environment(), "DJANGO_SETTINGS_MODULE": settings},
    )
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/db", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer within 30 s")


SERVER_PROCESSES = {"gunicorn": "gunicorn", "postgres": "PostgreSQL", "redis-server": "Redis"}


def server_cpu() -> dict[str, float]:
    """CPU seconds used so far by the server's processes on this machine (Linux ``/proc``),
    by kind: gunicorn's workers, PostgreSQL, Redis; zero where there is no ``/proc``. Every
    process of those names counts, so run the bench on a machine doing nothing else; one
    that exits during a phase (an autovacuum worker) takes its seconds with it."""
    used = dict.fromkeys(SERVER_PROCESSES.values(), 0.0)
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")].split(":")[0]
        if name in SERVER_PROCESSES:
            fields = stat[stat.rindex(")") + 2 :].split()
            used[SERVER_PROCESSES[name]] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


class Phase:
    def __init__(self, name):
        self.name, self.latencies, self.outcomes = name, [], {}
        self.wall = self.cpu = 0.0
        self.server = {}

    def record(self, seconds, outcome):
        self.latencies.append(seconds)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def throughput(self):
        return len(self.latencies) / self.wall

    def percentile(self, p):
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    def line(self, ceiling=None):
        ratio = f"{self.throughput / ceiling.throughput:5.2f}" if ceiling else "  1.00"
        return (
            f"{self.name:<8} {len(self.latencies):>6} req {self.wall:7.2f} s {self.throughput:8.0f} req/s "
            f"p50 {self.percentile(50):6.1f} p95 {self.percentile(95):6.1f} p99 {self.percentile(99):6.1f} ms"
            f"  ratio {ratio}  client CPU {100 * self.cpu / self.wall:4.0f}%"
        )

    def cpu_line(self):
        """Where the machine's CPU went, per request: what the ratios come from."""
        count = max(len(self.latencies), 1)
        parts = [f"{kind} {1000 * seconds / count:.2f}" for kind, seconds in self.server.items()]
        return f"{self.name:<8} CPU ms per request: {', '.join(parts)}, load generator {1000 * self.cpu / count:.2f}"


async def run_phase(name, jobs, concurrency, send):
    """Run every job through ``send(session, job) -> outcome``, ``concurrency`` at a time.

    aiohttp rather than httpx: on two cores the client competes with the server, and
    aiohttp spends several times less CPU per request."""
    import aiohttp

    phase = Phase(name)
    queue = list(jobs)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def worker():
            while queue:
                job = queue.pop()
                started = time.perf_counter()
                try:
                    outcome = await send(session, job)
                except Exception as exc:  # counted and shown, never hidden
                    outcome = f"exception:{exc.__class__.__name__}"
                phase.record(time.perf_counter() - started, outcome)

        server, cpu, wall = server_cpu(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.wall, phase.cpu = time.perf_counter() - wall, time.process_time() - cpu
        phase.server = {kind: used - server[kind] for kind, used in server_cpu().items()}
    return phase


def serve_and_measure(measure, settings: str = "portal.settings"):
    """Fresh data, gunicorn with ``settings``, then ``await measure(base_url, data)``."""
    sys.path.insert(0, str(ROOT))
    os.environ.update(environment())
    ensure_database()
    flush_redis()
    data = prepare()
    port = free_port()
    server = start_server(port, settings)
    try:
        asyncio.run(measure(f"http://127.0.0.1:{port}", data))
    finally:
        server.terminate()
        server.wait(10)
        flush_redis()


def ceiling_of(base):
    """The ceiling's request: the one-query view."""

    async def ceiling(session, _job):
        async with session.get(f"{base}/healthz/db") as response:
            await response.read()
            return response.status

    return ceiling


def rush_attempts(data) -> list[tuple[int, int]]:
    """(declaration, slot) per attempt. Most drivers want the morning: a skewed choice, so
    popular slots run full. Seeded: every run, and the floor, makes the same attempts."""
    rng = random.Random(1)
    weights = [3 if 2 <= n <= 8 else 1 for n in range(len(data["slots"]))]
    return [(declaration, rng.choices(data["slots"], weights)[0]) for declaration in data["declarations"]]


def main():
    serve_and_measure(_measure)


async def _measure(base, data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings.models import Booking, Pass, Slot
    from portal.models import User

    dispatcher = {"Authorization": f"Token {data['dispatcher_token']}"}
    officer = {"Authorization": f"Token {data['officer_token']}"}

    ceiling = ceiling_of(base)
    # Warm every worker's connection before measuring.
    await run_phase("warm-up", range(200), CONCURRENCY, ceiling)
    top = await run_phase("ceiling", range(CEILING_REQUESTS), CONCURRENCY, ceiling)

    # Two passes are kept for counting the queries of a scan.
    keep = 2
    attempts = rush_attempts(data)

    async def book(session, job):
        declaration, slot = job
        body = {"declaration": declaration, "slot": slot}
        async with session.post(f"{base}/api/v1/bookings/", json=body, headers=dispatcher) as response:
            answer = await response.json(content_type=None)
            return "booked" if response.status == 201 else answer.get("code", str(response.status))

    rush = await run_phase("rush", attempts, CONCURRENCY, book)

    passes = await asyncio.to_thread(
        lambda: list(Pass.objects.filter(revoked_at__isnull=True).values_list("token", flat=True))
    )
    passes = passes[keep:]

    async def scan(session, token):
        body = {"port": data["port"], "text": token, "client_nonce": os.urandom(8).hex()}
        async with session.post(f"{base}/api/v1/gate/scan/", json=body, headers=officer) as response:
            answer = await response.json(content_type=None)
            return answer.get("result") or answer.get("code") or str(response.status)

    scans = await run_phase("scans", passes, SCANNERS, scan)

    def audit():
        over = Slot.objects.filter(pk__in=data["slots"]).extra(
            where=["(SELECT count(*) FROM bookings_booking b WHERE b.slot_id = bookings_slot.id) > capacity"]
        )
        return Booking.objects.filter(slot_id__in=data["slots"]).count(), over.count()

    made, overbooked = await asyncio.to_thread(audit)

    def queries_per_scan():
        """Statements of one admitting scan, without BEGIN and COMMIT: in the service (the
        officer and port already known, as the page and the API know them before scanning)
        and in a whole API request (token, rights and two-factor, the answer's goods)."""
        from django.test import Client

        from bookings import gate, passes

        tokens = list(
            Pass.objects.filter(revoked_at__isnull=True, used_at__isnull=True).values_list(
                "token", flat=True
            )[:2]
        )
        if len(tokens) < 2:
            return None, None
        officer_user = User.objects.get(email="officer@bench.example")
        port = gate.scanner_port(officer_user, data["port"])
        passes.verify(tokens[0])  # the ports behind the keys are read once a minute

        def statements(captured):
            return [q["sql"] for q in captured if q["sql"] not in ("BEGIN", "COMMIT")]

        with CaptureQueriesContext(connection) as in_service:
            gate.scan(officer=officer_user, port=port, text=tokens[0], client_nonce=os.urandom(8).hex())
        client = Client(HTTP_AUTHORIZATION=f"Token {data['officer_token']}", HTTP_HOST="localhost")
        client.get("/api/v1/me/")  # the token's user, as the load's requests found it: cached
        body = {"port": data["port"], "text": tokens[1], "client_nonce": os.urandom(8).hex()}
        with CaptureQueriesContext(connection) as in_request:
            answer = client.post("/api/v1/gate/scan/", body, content_type="application/json")
        assert answer.json()["result"] == "admit", answer.content
        return statements(in_service), statements(in_request)

    in_service, in_request = await asyncio.to_thread(queries_per_scan)

    def shape(sql):  # "UPDATE bookings_booking"; a SELECT's own table, not a subquery's
        while re.search(r"\([^()]*\)", sql):
            sql = re.sub(r"\([^()]*\)", "", sql)
        words = sql.replace('"', "").split()
        table = next((w for w, before in zip(words[1:], words) if before in ("FROM", "INTO", "UPDATE")), "?")
        return f"{words[0]} {table}"

    per_scan = (len(in_service), len(in_request)) if in_service is not None else (None, None)

    print(
        f"\nBenchmark: gunicorn ({GUNICORN_WORKERS} workers × 4 threads) on PostgreSQL, {os.cpu_count()} CPUs"
    )
    print(top.line())
    print(rush.line(top))
    print(scans.line(top))
    for phase in (top, rush, scans):
        print(phase.cpu_line())
    print()
    print(
        f"rush: {rush.wall:.2f} s for {len(attempts)} attempts; outcomes {dict(sorted(rush.outcomes.items()))}"
    )
    print(f"bookings made {made} of capacity {data['capacity']}; slots over capacity: {overbooked}")
    print(
        f"scans: outcomes {dict(sorted(scans.outcomes.items()))}; statements per admitting scan "
        f"(besides BEGIN and COMMIT): {per_scan[0]} in the service, {per_scan[1]} in a whole API request"
    )
    if in_service is not None:
        print(f"  in the service: {', '.join(shape(q) for q in in_service)}")
        print(f"  in the request: {', '.join(shape(q) for q in in_request)}")
    unexpected = {k: v for k, v in rush.outcomes.items() if k not in {"booked", "slot_full"}}
    checks = [
        ("rush under 20 s", rush.wall < 20),
        ("none overbooked", overbooked == 0),
        ("no rush errors but 'full'", not unexpected),
        ("booking throughput ≥ 0.35 of ceiling", rush.throughput >= 0.35 * top.throughput),
        ("scan p99 < 50 ms", scans.percentile(99) < 50),
        ("≤ 6 queries per scan (service)", per_scan[0] is not None and per_scan[0] <= 6),
    ]
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")


if __name__ == "__main__":
    main()
