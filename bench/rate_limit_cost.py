"""What one request's rate limiting costs when its client has already sent many requests in the window.

A client allowed 1,000,000 requests an hour (a partner's API key, the benchmark's one client)
that has sent 50,000 of them, against a fresh client: Redis CPU per request, the time and
CPU per request in the app's process, and the Redis memory the client's window holds. Both
with the app's limiter (app/security/rate_limits.py: sliding window counters, one Lua script
per request) and, for contrast, with the `limits` library's moving window that it replaced
(one list entry per request; a hit, then a read of the window for the headers). Each on a
private redis-server, so that Redis's CPU is this scenario's alone.

    python -m bench.rate_limit_cost [--prior 50000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from bench.servers import free_port

LIMIT = "1000000/hour"


@dataclass
class Cost:
    """What one client's requests cost, per request."""

    redis_cpu_us: float
    latency_us: float  # wall time of the limiter's call in the app's process
    app_cpu_us: float
    redis_commands: float


@dataclass
class StrategyCost:
    """A limiter's cost for a client with `prior` requests in the window and for a fresh one."""

    name: str
    prior: int
    busy: Cost
    fresh: Cost
    memory_per_client: int  # bytes of Redis memory the busy client's window took

    @property
    def ratio(self) -> float:
        """Return the busy client's Redis CPU per request over the fresh one's."""
        return self.busy.redis_cpu_us / self.fresh.redis_cpu_us if self.fresh.redis_cpu_us else float("inf")


class PrivateRedis:
    """A redis-server of the benchmark's own on a free port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [str(shutil.which("redis-server")), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def counts(self) -> tuple[float, int, int]:
        """Return Redis's CPU seconds, commands run (INFO excepted) and memory used so far."""
        info = self.client.info("all")
        commands = sum(value["calls"] for name, value in info.items()
                       if name.startswith("cmdstat_") and name != "cmdstat_info")
        return info["used_cpu_user"] + info["used_cpu_sys"], commands, info["used_memory"]

    def stop(self) -> None:
        """Stop the server."""
        self.process.terminate()
        self.process.wait(timeout=10)


def ours(url: str) -> Callable[[str], object]:
    """Return the app's limiter spending one client budget of LIMIT per call."""
    from app.security.rate_limits import RateLimits

    limits = RateLimits({
        "RATE_LIMITS": LIMIT, "API_KEY_RATE_LIMITS": "", "STAFF_RATE_LIMITS": "", "STAFF_AUTH_FAILURE_LIMITS": "",
        "RATELIMIT_KEY_PREFIX": "bench", "RATELIMIT_FAIL_MODE": "closed", "RATELIMIT_STORAGE_URI": url,
    })
    return lambda client: limits.spend(client, None)


def moving_window(url: str) -> Callable[[str], object]:
    """Return the moving window the app used before: a hit, then the window's stats for the headers."""
    limiter = MovingWindowRateLimiter(RedisStorage(url))
    item = parse(LIMIT)

    def spend(client: str) -> object:
        limiter.hit(item, "bench", client)
        return limiter.get_window_stats(item, "bench", client)

    return spend


def cost_of(server: PrivateRedis, spend: Callable[[str], object], client: str, requests: int) -> Cost:
    """Measure `requests` calls for one client."""
    cpu0, commands0, _ = server.counts()
    app0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(requests):
        spend(client)
    wall, app = time.perf_counter() - wall0, time.process_time() - app0
    cpu1, commands1, _ = server.counts()
    return Cost((cpu1 - cpu0) / requests * 1e6, wall / requests * 1e6, app / requests * 1e6,
                (commands1 - commands0) / requests)


def measure(name: str, make: Callable[[str], Callable[[str], object]], *, prior: int, requests: int,
            workdir: Path) -> StrategyCost:
    """Fill one client's window with `prior` requests, then measure it and a fresh client, alternately."""
    server = PrivateRedis(workdir)
    try:
        spend = make(server.url)
        spend("warm-up")
        memory0 = server.counts()[2]
        for _ in range(prior):
            spend("busy")
        memory = server.counts()[2] - memory0
        busy, fresh = [], []
        for round_number in range(3):  # alternate, so that a busy moment of the machine hits both
            busy.append(cost_of(server, spend, "busy", requests // 3))
            fresh.append(cost_of(server, spend, f"fresh-{round_number}", requests // 3))
        return StrategyCost(name, prior, _median_cost(busy), _median_cost(fresh), memory)
    finally:
        server.stop()


def _median_cost(costs: list[Cost]) -> Cost:
    return sorted(costs, key=lambda cost: cost.redis_cpu_us)[len(costs) // 2]


def rate_limit_costs(prior: int, requests: int) -> list[StrategyCost]:
    """Measure the app's limiter and the moving window it replaced."""
    workdir = Path(tempfile.mkdtemp(prefix="greengrocer-ratelimit-"))
    try:
        return [measure("ours: sliding window counters, one script", ours, prior=prior, requests=requests,
                        workdir=workdir),
                measure("before: limits' moving window", moving_window, prior=prior, requests=requests,
                        workdir=workdir)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Print both limiters' costs."""
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limit_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--prior", type=int, default=50_000, help="requests the busy client already sent")
    parser.add_argument("--requests", type=int, default=3_000, help="requests measured per client")
    args = parser.parse_args(argv)
    for result in rate_limit_costs(args.prior, args.requests):
        for label, cost in (("busy", result.busy), ("fresh", result.fresh)):
            print(f"{result.name}, {label}: Redis {cost.redis_cpu_us:.1f} µs CPU, {cost.redis_commands:.1f} commands; "
                  f"app {cost.app_cpu_us:.1f} µs CPU, {cost.latency_us:.1f} µs per request")
        print(f"  busy / fresh Redis CPU: {result.ratio:.2f}; the busy client's window: "
              f"{result.memory_per_client / 1024:,.0f} KiB of Redis memory after {result.prior:,} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
