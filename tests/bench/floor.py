"""Benchmark: the floor under the booking and scan targets, on the same machine, in one run.

A second server, with the same settings plus the probe's two views (``tests.bench.floor_urls``):
the least a booking or an admitting scan can cost on this schema, one read and one write
statement each, with none of the portal's checks. Measured against this server's own
ceiling, with the same data, load and concurrency as ``tests.bench.bookings``. A target
that the floor itself misses cannot be met by any implementation of the portal on this
machine; the floor's margin over a target is what an implementation has to spend.

    make bench            # after tests.bench.bookings
"""

import asyncio
import os

from tests.bench.bookings import (
    CONCURRENCY,
    SCANNERS,
    ceiling_of,
    run_phase,
    rush_attempts,
    serve_and_measure,
)


def main():
    serve_and_measure(_measure, settings="tests.bench.floor_settings")


async def _measure(base, data):
    from bookings.models import Pass

    ceiling = ceiling_of(base)
    dispatcher = {"Authorization": f"Token {data['dispatcher_token']}"}
    officer = {"Authorization": f"Token {data['officer_token']}"}

    async def book(session, job):
        body = {"declaration": job[0], "slot": job[1]}
        async with session.post(f"{base}/floor/book/", json=body, headers=dispatcher) as response:
            answer = await response.json(content_type=None)
            return "booked" if response.status == 201 else answer.get("code", str(response.status))

    async def scan(session, token):
        body = {"text": token, "client_nonce": os.urandom(8).hex()}
        async with session.post(f"{base}/floor/scan/", json=body, headers=officer) as response:
            answer = await response.json(content_type=None)
            return answer.get("result", str(response.status))

    await run_phase("warm-up", range(200), CONCURRENCY, ceiling)
    top = await run_phase("ceiling", range(4000), CONCURRENCY, ceiling)
    rush = await run_phase("floor-bk", rush_attempts(data), CONCURRENCY, book)
    tokens = await asyncio.to_thread(
        lambda: list(Pass.objects.filter(revoked_at__isnull=True).values_list("token", flat=True))
    )
    # The scanners' own ceiling: the same trivial view, 16 at a time.
    top16 = await run_phase("ceil-16", range(2000), SCANNERS, ceiling)
    scans = await run_phase("floor-sc", tokens, SCANNERS, scan)

    print("\nFloor: the least a booking and a scan cost on this schema (one read, one write; no checks)")
    print(top.line())
    print(rush.line(top))
    print(top16.line())
    print(scans.line(top16))
    for phase in (top, rush, top16, scans):
        print(phase.cpu_line())
    print(f"floor bookings: outcomes {dict(sorted(rush.outcomes.items()))}")
    print(f"floor scans: outcomes {dict(sorted(scans.outcomes.items()))}")
    print(
        f"  booking throughput at the floor: {rush.throughput / top.throughput:.2f} of the ceiling "
        f"(target for the portal: 0.35); scan p99 at the floor: {scans.percentile(99):.1f} ms (target 50)"
    )


if __name__ == "__main__":
    main()
