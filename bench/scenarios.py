"""The benchmark's scenarios: each drives a running server and returns what it measured."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import Sample, StreamSample, Throughput, chat_body, closed_loop, streams
from bench.servers import CpuMeter, Process, pids_named, postgres_backends, rss_mib, total_cpu_cores
from bench.stats import median, peak_overlap, percentile

FAQ_QUESTION = "What are your delivery hours?"
CORES = os.cpu_count() or 1
# The process groups whose CPU is measured under load (the report reads the first three per answer).
WORKERS = "gunicorn workers"
POSTGRES = "PostgreSQL (this database's backends)"
REDIS = "Redis"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def post_json(url: str, body: dict) -> dict:
    """POST a JSON body and return the JSON answer (for the checks before a scenario)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get_json(url: str) -> dict:
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def set_standin_latency(standin: Process, seconds: float) -> None:
    """Make the stand-in answer JSON requests after `seconds` from now on."""
    get_json(f"{standin.url}/_bench/settings?latency={seconds}")


def check_answer(server: Process, message: str, source: str) -> None:
    """Fail early unless the server answers `message` from `source` (faq or llm)."""
    answer = post_json(f"{server.url}/api/v1/chat", {"message": message})
    if answer.get("source") != source:
        raise RuntimeError(f"{server.name}: expected a {source} answer to {message!r}, got {answer}")


def throughput(
    server: Process, body: dict, *, connections: int, seconds: float, workdir: Path, database_url: str
) -> Throughput:
    """Post the same JSON body as fast as `connections` keep-alive connections allow, for `seconds`.

    wrk (C, one thread) when it is installed, else the asyncio client (which takes more of
    the shared CPU from the server). Notes the CPU each process group used meanwhile.
    """
    meter = CpuMeter({"server workers": server.workers,
                      POSTGRES: lambda: postgres_backends(database_url),
                      REDIS: lambda: pids_named("redis-server")})
    if shutil.which("wrk"):
        script = workdir / "post.lua"
        script.write_text(WRK_SCRIPT % json.dumps(body))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                   "-s", str(script), f"{server.url}/api/v1/chat"]
        busy0, total0 = total_cpu_cores()
        meter.start()
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        output = wrk.stdout.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(wrk.pid, 0)  # its own CPU time, which /proc no longer has once it exits
        wrk.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - meter.started
        cores = meter.stop()
        cores["load generator (wrk)"] = (usage.ru_utime + usage.ru_stime) / elapsed
        if wrk.returncode:
            raise RuntimeError(f"wrk failed ({wrk.returncode}): {output}")
        [line] = [line for line in output.splitlines() if line.startswith("WRKJSON ")]
        result = json.loads(line.removeprefix("WRKJSON "))
        errors = sum(result[kind] for kind in ("connect", "read", "write", "status", "timeout"))
        run = Throughput(result["requests"], result["duration_us"] / 1e6, result["p50_us"] / 1e6,
                         result["p99_us"] / 1e6, errors, "wrk")
    else:
        meter.groups["load generator (asyncio)"] = lambda: [os.getpid()]
        busy0, total0 = total_cpu_cores()
        meter.start()
        samples, start, end = asyncio.run(
            closed_loop("127.0.0.1", server.port, lambda _tag, _conversation: json.dumps(body).encode(),
                        clients=connections, warmup=0.5, duration=seconds)
        )
        cores = meter.stop()
        latencies = [s.latency for s in samples]
        run = Throughput(len(samples), end - start, median(latencies) or 0, percentile(latencies, 99) or 0,
                         sum(1 for s in samples if s.status != 200), "asyncio client")
    busy1, total1 = total_cpu_cores()
    machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    cores["everything else on the machine"] = max(0.0, machine_busy * CORES - sum(cores.values()))
    run.extra = cores
    return run


class Observer:
    """Sample the workers' memory and every process group's CPU while a load runs."""

    def __init__(self, server: Process, standin: Process, database_url: str, interval: float = 0.25) -> None:
        self.server, self.interval = server, interval
        self.peak_rss: dict[int, float] = {}
        self.meter = CpuMeter(
            {
                WORKERS: server.workers,
                "stand-in": lambda: [standin.process.pid],
                "load generator": lambda: [os.getpid()],
                POSTGRES: lambda: postgres_backends(database_url),
                REDIS: lambda: pids_named("redis-server"),
            }
        )
        self.machine_busy = 0.0

    async def watch(self, delay: float, until: Callable[[], bool]) -> None:
        """After `delay` seconds, measure CPU until `until()` is true, sampling memory all along."""
        started = time.monotonic()
        metered = False
        busy0 = total0 = 0.0
        while not until():
            if not metered and time.monotonic() - started >= delay:
                self.meter.start()
                busy0, total0 = total_cpu_cores()
                metered = True
            for pid in self.server.workers():
                rss = rss_mib(pid)
                if rss is not None:
                    self.peak_rss[pid] = max(self.peak_rss.get(pid, 0.0), rss)
            await asyncio.sleep(self.interval)
        if metered:
            cores = self.meter.stop()
            busy1, total1 = total_cpu_cores()
            self.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
            cores["everything else on the machine"] = max(0.0, self.machine_busy * CORES - sum(cores.values()))


@dataclass
class LlmResult:
    """The LLM scenario's figures."""

    clients: int
    seconds: float
    samples: list[Sample]
    overheads: list[float] = field(default_factory=list)
    before: list[float] = field(default_factory=list)  # client sent -> stand-in read the request
    after: list[float] = field(default_factory=list)  # stand-in wrote the answer -> client read it
    held: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    peak_rss: dict[int, float] = field(default_factory=dict)

    @property
    def ok(self) -> list[Sample]:
        """Return the answered requests."""
        return [s for s in self.samples if s.status == 200]

    @property
    def rate(self) -> float:
        """Return answers per second."""
        return len(self.ok) / self.seconds

    @property
    def errors(self) -> int:
        """Return the requests that failed."""
        return len(self.samples) - len(self.ok)


def llm_answers(
    server: Process, standin: Process, database_url: str, *, clients: int, warmup: float, seconds: float, turns: int,
    timeout: float = 60.0,
) -> LlmResult:
    """Keep `clients` closed-loop clients asking questions only DeepSeek answers; time each against the stand-in."""
    get_json(f"{standin.url}/_bench/records")  # forget what came before
    observer = Observer(server, standin, database_url)
    done = False

    async def run() -> tuple[list[Sample], float, float]:
        nonlocal done
        watcher = asyncio.create_task(observer.watch(warmup, lambda: done))
        try:
            return await closed_loop("127.0.0.1", server.port, chat_body, clients=clients, warmup=warmup,
                                     duration=seconds, turns=turns, timeout=timeout)
        finally:
            done = True
            await watcher

    samples, start, end = asyncio.run(run())
    records = {r["tag"]: r for r in get_json(f"{standin.url}/_bench/records")["records"]}
    result = LlmResult(clients, end - start, samples, cpu=observer.meter.cores, machine_busy=observer.machine_busy,
                       peak_rss=observer.peak_rss)
    for sample in result.ok:
        record = records.get(sample.tag)
        if record and record["answered"] is not None:
            held = record["answered"] - record["received"]
            result.held.append(held)
            result.overheads.append(sample.latency - held)
            result.before.append(record["received"] - sample.started)
            result.after.append(sample.finished - record["answered"])
    return result


@dataclass
class StreamResult:
    """The streaming scenario's figures."""

    samples: list[StreamSample]
    pieces: int
    first_delta_gaps: list[float] = field(default_factory=list)
    standin_peak: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    peak_rss: dict[int, float] = field(default_factory=dict)

    @property
    def completed(self) -> list[StreamSample]:
        """Return the streams that got every delta and `done`."""
        return [s for s in self.samples if s.done_at is not None and not s.error and s.deltas == self.pieces]

    @property
    def client_peak(self) -> int:
        """Return the most streams the client held open at once (from `meta` to their end)."""
        return peak_overlap((s.meta_at, s.done_at) for s in self.samples if s.meta_at and s.done_at)


def held_streams(
    server: Process, standin: Process, database_url: str, *, count: int, ramp: float, pieces: int
) -> StreamResult:
    """Open `count` SSE streams within `ramp` seconds and hold them; time each first delta against the stand-in's."""
    get_json(f"{standin.url}/_bench/records")
    observer = Observer(server, standin, database_url)
    done = False

    async def run() -> list[StreamSample]:
        nonlocal done
        watcher = asyncio.create_task(observer.watch(0.0, lambda: done))
        try:
            return await streams("127.0.0.1", server.port, count, ramp=ramp, timeout=120)
        finally:
            done = True
            await watcher

    samples = asyncio.run(run())
    answer = get_json(f"{standin.url}/_bench/records")
    records = {r["tag"]: r for r in answer["records"]}
    result = StreamResult(samples, pieces, standin_peak=answer["peak_streams"], cpu=observer.meter.cores,
                          machine_busy=observer.machine_busy, peak_rss=observer.peak_rss)
    for sample in samples:
        record = records.get(sample.tag)
        if sample.first_delta_at is not None and record and record["first_content"] is not None:
            result.first_delta_gaps.append(sample.first_delta_at - record["first_content"])
    return result


def warm_up(server: Process) -> None:
    """Send a few of every kind of request, so caches, pools and imports are warm before "at rest"."""
    for _ in range(20):
        check_answer(server, FAQ_QUESTION, "faq")

    async def run() -> None:
        await asyncio.gather(
            closed_loop("127.0.0.1", server.port, chat_body, clients=8, warmup=0.0, duration=2.5, turns=2),
            streams("127.0.0.1", server.port, 4, ramp=0.0, timeout=60),
        )

    asyncio.run(run())
