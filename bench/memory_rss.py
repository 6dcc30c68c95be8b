"""Memory: peak RSS of `casetrail serve` on PostgreSQL under the same request load,
with 1,000,000 events stored against 1,000 stored.

The process should not grow with the store: what it remembers (the cases its
commands last saved, CASETRAIL_CASE_CACHE_SIZE) is bounded by count, and reads
never use it; every list is paged.

The load, from this process: GET a case, its history and its obligations for each
of 2,000 requests spread over all stored cases, plus a search page every tenth.
Peak RSS is the kernel's high-water mark (VmHWM). Workers are off: feeding the
views from 1,000,000 events is B3's subject, not this one's.

    .venv/bin/python -m bench.memory_rss
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from bench.common import fill, postgres_settings
from domain.actors import Role
from infrastructure.clock import SystemClock
from infrastructure.tokens import TokenService
from tests.reliability.processes import env_for, free_port, serve

EVENTS_PER_CASE = 100
REQUESTS = 2_000


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_rss(events: int) -> tuple[int, int, float]:
    """(RSS after start, peak RSS after the load, seconds to fill the store)."""
    with postgres_settings() as settings:
        started = time.perf_counter()
        ids = fill(settings, events)
        filled = time.perf_counter() - started
        port = free_port()
        workdir = Path(f"/tmp/casetrail-memory-{port}")
        workdir.mkdir()
        server = serve(env_for(settings, CASETRAIL_EMBEDDED_WORKERS="false",
                               CASETRAIL_LOG_LEVEL="WARNING"), workdir, port)
        try:
            at_start = kib(server.pid, "VmRSS")
            token = TokenService(settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
                                 SystemClock()).issue("bench", [Role.DEPARTMENT_HEAD],
                                                      "after_sales")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                stride = max(1, len(ids) // REQUESTS)
                for n in range(REQUESTS):
                    case_id = ids[(n * stride) % len(ids)]
                    for path in ("", "/history"):
                        http.get(f"/v1/exceptions/{case_id}{path}").raise_for_status()
                    http.get("/v1/obligations", params={"subject": case_id}).raise_for_status()
                    if n % 10 == 0:
                        http.get("/v1/exceptions", params={"limit": 100}).raise_for_status()
            peak = kib(server.pid, "VmHWM")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
        return at_start, peak, filled


def main() -> None:
    small = peak_rss(1_000)
    large = peak_rss(1_000_000)
    for events, (start, peak, filled) in ((1_000, small), (1_000_000, large)):
        print(f"{events:>9,} events stored (filled in {filled:6.1f} s): RSS after start "
              f"{start / 1024:6.1f} MiB, peak under load {peak / 1024:6.1f} MiB")
    print(f"peak ratio, 1,000,000 vs 1,000 events    {large[1] / small[1]:.2f} (flat = 1)")


if __name__ == "__main__":
    main()
