"""The benchmark's report: the machine, one markdown table of scenarios against the goals, and details."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import timeit
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.loadgen import Throughput
from bench.rate_limit_cost import StrategyCost
from bench.scenarios import POSTGRES, REDIS, WORKERS, LlmResult, StreamResult
from bench.stats import median, percentile

# The goals of issue #12
FAQ_GOAL = 0.5  # of the ceiling's requests per second
INSTANT_GOAL = 0.25  # LLM answers per second from an instant stand-in, of the ceiling's requests per second
LLM_GOAL = 190.0  # answers per second, stand-in latency 1.0 s, 200 clients, 3 turns
LLM_P99_GOAL = 1.15  # seconds
STREAMS_GOAL = 2000  # concurrent streams held and completed on 2 workers
FIRST_DELTA_GOAL = 0.050  # seconds after the stand-in's, p99
REST_MEMORY_GOAL = 130.0  # MiB per worker
RATE_LIMIT_SLACK = 1.2  # a busy client's Redis CPU per request may be this much a fresh one's (noise)
PACKAGES = ("Flask", "gunicorn", "gevent", "httpcore2", "SQLAlchemy", "psycopg", "limits", "redis", "structlog",
            "prometheus-client")


def machine() -> str:
    """Describe the machine: CPU model, cores, RAM, OS, Python, package and service versions."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    memory_kib = int(found.group(1)) if found else 0
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    services = [_version(["psql", "--version"], r"(\d+\.\d+)", "PostgreSQL"),
                _version(["redis-server", "--version"], r"v=(\S+)", "Redis"),
                _version(["wrk", "--version"], r"wrk \S*?(\d+\.\d+\.\d+)", "wrk")]
    loop = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_kib / 1024 / 1024:.1f} GiB RAM (CPU speed: `sum(range(1000))` "
        f"takes {loop * 1e6:.0f} µs here, about 7 µs on a current desktop core); {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; {versions}; "
        f"{', '.join(s for s in services if s)}"
    )


def _version(command: list[str], pattern: str, name: str) -> str:
    if not shutil.which(command[0]):
        return ""
    try:
        output = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.search(pattern, output)
    return f"{name} {found.group(1)}" if found else ""


@dataclass
class Results:
    """Everything one run measured; a scenario not run stays empty."""

    date: str
    command: str
    machine: str
    settings: list[str]
    ceiling_runs: list[Throughput] = field(default_factory=list)
    faq_runs: list[Throughput] = field(default_factory=list)
    throughput_load: str = ""
    llm: LlmResult | None = None
    llm_load: str = ""
    light: LlmResult | None = None
    light_load: str = ""
    instant_runs: list[LlmResult] = field(default_factory=list)
    instant_load: str = ""
    rate_limits: list[StrategyCost] = field(default_factory=list)
    rate_limit_load: str = ""
    sync: LlmResult | None = None
    sync_load: str = ""
    stream: StreamResult | None = None
    stream_load: str = ""
    rest_rss: dict[int, float] = field(default_factory=dict)
    sync_rest_rss: dict[int, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


def ms(seconds: float | None) -> str:
    """Format seconds as milliseconds."""
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"


def sec(seconds: float | None) -> str:
    """Format seconds to the millisecond."""
    return "—" if seconds is None else f"{seconds:.3f} s"


def median_run(runs: list[Any]) -> Any:
    """Return the run with the median rate (requests or answers per second)."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def cpu_per_answer(result: LlmResult) -> dict[str, float]:
    """Return the CPU milliseconds per answer of the workers, PostgreSQL and Redis during an LLM run."""
    if not result.rate:
        return {}
    return {name: result.cpu.get(name, 0.0) / result.rate * 1000 for name in (WORKERS, POSTGRES, REDIS)}


def goal_rows(results: Results) -> list[tuple[str, str, str, bool | None]]:
    """Return (goal, measured, target, met) for every goal of issue #12 that this run measured; met None: no target."""
    rows: list[tuple[str, str, str, bool | None]] = []
    ceiling = median_run(results.ceiling_runs).rate if results.ceiling_runs else None
    if results.faq_runs:
        faq = median_run(results.faq_runs).rate
        ratio = faq / ceiling if ceiling else None
        rows.append(("FAQ answer through the full stack", f"{faq:,.0f} req/s" + (
            f" = {ratio:.2f} × the ceiling's {ceiling:,.0f}" if ratio is not None else " (no ceiling run)"),
            f"≥ {FAQ_GOAL:.2f} × ceiling", None if ratio is None else ratio >= FAQ_GOAL))
    if results.instant_runs:
        instant = median_run(results.instant_runs)
        ratio = instant.rate / ceiling if ceiling else None
        rows.append(("LLM answers, instant stand-in, 50 clients", f"{instant.rate:,.0f} answers/s" + (
            f" = {ratio:.2f} × ceiling" if ratio is not None else " (no ceiling run)"),
            f"≥ {INSTANT_GOAL:.2f} × ceiling", None if ratio is None else ratio >= INSTANT_GOAL))
        cpu = cpu_per_answer(instant)
        if cpu:
            total = sum(cpu.values()) or 1.0
            rows.append(("… CPU per answer (same run)",
                         f"workers {cpu[WORKERS]:.2f} ms; PostgreSQL {cpu[POSTGRES]:.2f} ms "
                         f"({cpu[POSTGRES] / total:.0%}); Redis {cpu[REDIS]:.2f} ms ({cpu[REDIS] / total:.0%})",
                         "reported", None))
    if results.llm:
        llm = results.llm
        p99 = percentile([s.latency for s in llm.ok], 99)
        rows += [("LLM answers, 1.0 s stand-in, 200 clients, 3 turns", f"{llm.rate:,.1f} answers/s",
                  f"≥ {LLM_GOAL:.0f} answers/s", llm.rate >= LLM_GOAL),
                 ("… p99 latency", sec(p99), f"≤ {LLM_P99_GOAL} s", p99 is not None and p99 <= LLM_P99_GOAL)]
    if results.stream:
        stream = results.stream
        count = len(stream.samples)
        held = min(stream.client_peak, stream.standin_peak)
        gap = percentile(stream.first_delta_gaps, 99)
        rows += [(f"{count:,} concurrent streams on the workers", f"{held:,} held at once, "
                  f"{len(stream.completed):,} completed", f"{STREAMS_GOAL:,} held and completed",
                  held >= STREAMS_GOAL and len(stream.completed) >= STREAMS_GOAL),
                 ("… first delta after the stand-in's (p99)", ms(gap), f"≤ {FIRST_DELTA_GOAL * 1000:.0f} ms",
                  gap is not None and gap <= FIRST_DELTA_GOAL)]
    if results.rest_rss:
        worst = max(results.rest_rss.values())
        rows.append(("memory per worker at rest", f"{worst:.0f} MiB (largest worker)",
                     f"≤ {REST_MEMORY_GOAL:.0f} MiB", worst <= REST_MEMORY_GOAL))
    if results.stream and results.stream.peak_rss:
        rows.append(("memory per worker under the streams", f"{max(results.stream.peak_rss.values()):.0f} MiB "
                     "(largest peak)", "reported", None))
    for cost in results.rate_limits[:1]:  # ours; the moving window before is in the details
        rows.append((f"rate limiting, a client with {cost.prior:,} requests in the window vs a fresh one",
                     f"Redis {cost.busy.redis_cpu_us:.1f} vs {cost.fresh.redis_cpu_us:.1f} µs CPU, "
                     f"{cost.busy.latency_us:.0f} vs {cost.fresh.latency_us:.0f} µs per request",
                     f"busy ≤ {RATE_LIMIT_SLACK:g} × fresh", cost.ratio <= RATE_LIMIT_SLACK))
    return rows


def goal_table(results: Results) -> list[str]:
    """Return the goals of issue #12, each with its figure and met or missed."""
    rows = goal_rows(results)
    if not rows:
        return []
    table = ["| goal (issue #12) | measured | target | result |", "|---|---|---|---|"]
    for goal, measured, target, met in rows:
        result = "—" if met is None else ("met" if met else "**missed**")
        table.append(f"| {goal} | {measured} | {target} | {result} |")
    return table + [""]


def render(results: Results) -> str:
    """Return the whole report as markdown: the goals, then every scenario's figures."""
    out = [
        f"Measured {results.date} with `{results.command}` (wall time {results.wall_seconds:.0f} s).",
        "",
        f"Machine: {results.machine}. The load generator, the stand-in, PostgreSQL, Redis and the servers "
        "all share these cores.",
        "",
        *goal_table(results),
        "| scenario | load | throughput | median | p99 | errors |",
        "|---|---|---|---|---|---|",
    ]
    ceiling = median_run(results.ceiling_runs) if results.ceiling_runs else None
    if ceiling:
        out.append(f"| ceiling: bare Flask route, same JSON | {results.throughput_load} | {ceiling.rate:,.0f} req/s "
                   f"| {ms(ceiling.median)} | {ms(ceiling.p99)} | {ceiling.errors} |")
    if results.faq_runs:
        faq = median_run(results.faq_runs)
        out.append(f"| FAQ answer, full stack | {results.throughput_load} | {faq.rate:,.0f} req/s | {ms(faq.median)} "
                   f"| {ms(faq.p99)} | {faq.errors} |")
    rows = [("LLM answers, instant stand-in", results.instant_load,
             median_run(results.instant_runs) if results.instant_runs else None),
            ("LLM answers, 1.0 s stand-in", results.llm_load, results.llm),
            ("LLM answers, below saturation", results.light_load, results.light),
            ("LLM answers, sync workers (contrast)", results.sync_load, results.sync)]
    for name, load, llm in rows:
        if llm is not None:
            latencies = [s.latency for s in llm.ok]
            out.append(f"| {name} | {load} | {llm.rate:,.1f} answers/s | {sec(median(latencies))} "
                       f"| {sec(percentile(latencies, 99))} | {llm.errors} |")
    if results.stream:
        stream = results.stream
        count = len(stream.samples)
        out.append(
            f"| streaming: {count} concurrent SSE streams | {results.stream_load} "
            f"| {len(stream.completed)}/{count} completed; {min(stream.client_peak, stream.standin_peak)} held at "
            f"once | first delta {ms(median(stream.first_delta_gaps))} after the stand-in's "
            f"| {ms(percentile(stream.first_delta_gaps, 99))} | {count - len(stream.completed)} |"
        )
    out += ["", "Throughput is per second of the measured window; latencies are per request, from sending it to "
            "reading the whole answer (streams: the first delta, against the stand-in's send time). "
            "Errors are non-200 answers and failed connections."]
    out += _memory(results)
    out += _details(results, ceiling)
    if results.notes:
        out += ["", "Notes:", ""] + [f"- {note}" for note in results.notes]
    out += ["", "Settings:", ""] + [f"- {setting}" for setting in results.settings]
    return "\n".join(out) + "\n"


def _memory(results: Results) -> list[str]:
    rows = []
    llm_peak = results.llm.peak_rss if results.llm else {}
    stream_peak = results.stream.peak_rss if results.stream else {}
    for number, pid in enumerate(sorted(results.rest_rss), start=1):
        rows.append(
            f"| gevent worker {number} (pid {pid}) | {results.rest_rss[pid]:.0f} MiB | {_mib(llm_peak.get(pid))} "
            f"| {_mib(stream_peak.get(pid))} |"
        )
    sync_peak = results.sync.peak_rss if results.sync else {}
    for number, pid in enumerate(sorted(results.sync_rest_rss), start=1):
        rows.append(f"| sync worker {number} (pid {pid}) | {results.sync_rest_rss[pid]:.0f} MiB "
                    f"| {_mib(sync_peak.get(pid))} | — |")
    if not rows:
        return []
    return ["", "5 — memory per worker (VmRSS; at rest = after start-up and a warm-up of every kind of request; "
            "peaks sampled every 0.25 s):", "",
            "| worker | at rest | peak, LLM load | peak, streaming load |", "|---|---|---|---|", *rows]


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} MiB"


def _details(results: Results, ceiling: Throughput | None) -> list[str]:
    out = ["", "Details:", ""]
    if results.ceiling_runs or results.faq_runs:
        runs = "; ".join(
            f"{name}: " + ", ".join(f"{run.rate:,.0f}" for run in runs)
            for name, runs in (("ceiling", results.ceiling_runs), ("FAQ", results.faq_runs)) if runs
        )
        tool = (results.ceiling_runs or results.faq_runs)[0].tool
        out.append(f"- Runs 1 and 2 (req/s per run, alternated, median reported; load by {tool}): {runs}.")
        for name, runs in (("ceiling", results.ceiling_runs), ("FAQ", results.faq_runs)):
            if runs and median_run(runs).extra:
                out.append(f"- CPU during the median {name} run (cores of {os.cpu_count()}): "
                           f"{_cpu(median_run(runs).extra)}.")
    for name, result in (("LLM (gevent)", results.llm), ("LLM below saturation", results.light),
                         ("LLM (sync)", results.sync)):
        if result is None:
            continue
        if result.overheads:
            out.append(
                f"- {name}: stand-in held each request {sec(median(result.held))} (median); of the backend's overhead, "
                f"{ms(median(result.before))} (median, p99 {ms(percentile(result.before, 99))}) came before the "
                f"request reached the stand-in and {ms(median(result.after))} (median, p99 "
                f"{ms(percentile(result.after, 99))}) after the stand-in answered."
            )
        if result.cpu:
            out.append(f"- CPU during the {name} window (cores of {os.cpu_count()}): {_cpu(result.cpu)}.")
    if results.instant_runs:
        out.append("- LLM, instant stand-in, per run: " + "; ".join(
            f"{run.rate:,.0f} answers/s, CPU per answer " + ", ".join(
                f"{name.split(' (')[0]} {value:.2f} ms" for name, value in cpu_per_answer(run).items())
            for run in results.instant_runs) + ".")
    for cost in results.rate_limits:
        out.append(
            f"- Rate limits, {cost.name} ({results.rate_limit_load}): busy client Redis "
            f"{cost.busy.redis_cpu_us:.1f} µs CPU and {cost.busy.redis_commands:.0f} commands per request, the app "
            f"{cost.busy.app_cpu_us:.1f} µs CPU, {cost.busy.latency_us:.0f} µs per request; fresh client "
            f"{cost.fresh.redis_cpu_us:.1f} µs, {cost.fresh.redis_commands:.0f} commands, {cost.fresh.app_cpu_us:.1f} "
            f"µs, {cost.fresh.latency_us:.0f} µs; the busy client's window holds "
            f"{cost.memory_per_client / 1024:,.0f} KiB of Redis memory.")
    if results.stream:
        stream = results.stream
        out.append(
            f"- Streaming: peak streams open at once, seen by the client (meta to done) {stream.client_peak}, by the "
            f"stand-in {stream.standin_peak}; first-delta gaps matched for {len(stream.first_delta_gaps)} streams."
        )
        if stream.cpu:
            out.append(f"- CPU during streaming (cores of {os.cpu_count()}): {_cpu(stream.cpu)}.")
        failed = [s.error for s in stream.samples if s.error]
        if failed:
            out.append(f"- Stream errors (first 3): {failed[:3]}")
    return out


def _cpu(cores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in cores.items())
