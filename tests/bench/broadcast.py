"""Benchmark: one notification fanned out to 2,000 drivers, sent by SMS through a real
local HTTP gateway by two Celery worker processes on Redis, with PostgreSQL.

Prints the time to build the rows, the time until the gateway has accepted every message,
the duplicates it saw, and the ratio to a baseline measured in the same run: the same
number of messages posted straight to the gateway, one after another, from one process.
Target: all accepted in under 60 s, zero duplicates.

    make bench            # DATABASE_URL and CELERY_BROKER_URL default to local servers
"""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", "2000"))
WORKERS = 2
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/landport_bench")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")


def ensure_database():
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main():
    sys.path.insert(0, str(ROOT))
    from tests.notifications.gateway import Gateway

    ensure_database()
    gateway = Gateway().__enter__()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "LANDPORT_ENV": "development",
        "DEBUG": "0",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SMS_TRANSPORT": "notifications.transports.HttpJsonSmsTransport",
        "SMS_GATEWAY_URL": gateway.url,
        "SMS_LIMIT_PER_FIRM_PER_DAY": str(RECIPIENTS * 10),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from notifications import services
    from notifications.models import Notification
    from notifications.transports import HttpJsonSmsTransport, Sms
    from portal.models import Driver, User

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BROKER_URL).flushdb()
    Notification.objects.all().delete()
    User.objects.filter(phone__startswith="+7709").delete()
    users = User.objects.bulk_create(
        User(
            phone=f"+7709{n:07d}",
            phone_verified=True,
            display_name=f"Driver {n}",
            language=["kk", "ru", "mn", "zh-hans", "en"][n % 5],
        )
        for n in range(RECIPIENTS)
    )
    users = list(User.objects.filter(phone__startswith="+7709"))
    Driver.objects.bulk_create(Driver(user=u) for u in users)

    # Baseline: the same number of messages, posted straight to the gateway from here.
    transport = HttpJsonSmsTransport()
    start = time.perf_counter()
    for n in range(RECIPIENTS):
        transport.send(Sms(to=f"+7709{n:07d}", body="Landport: baseline", idempotency_key=f"baseline-{n}"))
    baseline = time.perf_counter() - start
    baseline_accepted = len(gateway.messages())

    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                "notifications",
                "-P",
                "threads",
                "-c",
                "8",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
                "-n",
                f"bench{i}@%h",
            ],
            cwd=ROOT,
            env=env,
        )
        for i in range(WORKERS)
    ]
    try:
        time.sleep(3)  # let the workers connect
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            ids = services.notify(
                "organisation.verified",
                None,
                recipients=users,
                context={"organisation": "Khunjerab"},
                key=f"bench-{time.time()}",
            )
        built = time.perf_counter() - start
        deadline = time.monotonic() + 300
        while len(gateway.messages()) - baseline_accepted < len(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered_in = time.perf_counter() - start
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        gateway.__exit__(None, None, None)

    accepted = len(gateway.messages()) - baseline_accepted
    sent_rows = Notification.objects.filter(pk__in=ids, status="sent").count()
    print()
    print(f"broadcast to {RECIPIENTS} drivers by SMS, {WORKERS} worker processes, PostgreSQL + Redis")
    print(
        f"  rows built and committed (notify):   {built:7.2f} s  ({len(queries)} queries, {len(ids)} SMS queued)"
    )
    print(
        f"  all accepted by the gateway after:   {delivered_in:7.2f} s  ({accepted / delivered_in:,.0f} SMS/s)"
    )
    print(f"  baseline, direct posts from 1 process: {baseline:5.2f} s  ({RECIPIENTS / baseline:,.0f} SMS/s)")
    print(f"  ratio broadcast / baseline:          {delivered_in / baseline:7.2f}")
    print(
        f"  accepted {accepted}, rows sent {sent_rows}, duplicates seen by the gateway {gateway.duplicates}"
    )
    ok = accepted == RECIPIENTS and sent_rows == RECIPIENTS and gateway.duplicates == 0 and delivered_in < 60
    print(f"  target (all in < 60 s, no duplicate): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
