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

from bench.loadgen import Throughput
from bench.scenarios import LlmResult, StreamResult
from bench.stats import median, percentile

FAQ_GOAL = 0.6  # of the ceiling's requests per second
LLM_GOAL = 180.0  # answers per second
LLM_P99_GOAL = 1.2  # seconds
OVERHEAD_GOAL = 0.005  # seconds, at the median
FIRST_DELTA_GOAL = 0.050  # seconds
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


def verdict(ok: bool) -> str:
    """Say PASS or MISS."""
    return "PASS" if ok else "**MISS**"


def median_run(runs: list[Throughput]) -> Throughput:
    """Return the run with the median requests per second."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def render(results: Results) -> str:
    """Return the whole report as markdown."""
    out = [
        f"Measured {results.date} with `{results.command}` (wall time {results.wall_seconds:.0f} s).",
        "",
        f"Machine: {results.machine}. The load generator, the stand-in, PostgreSQL, Redis and the servers "
        "all share these cores.",
        "",
        "| # | scenario | load | throughput | median | p99 | errors | measured vs goal | goal | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ceiling = median_run(results.ceiling_runs) if results.ceiling_runs else None
    if ceiling:
        out.append(
            f"| 1 | ceiling: bare Flask route, same JSON | {results.throughput_load} | {ceiling.rate:,.0f} req/s "
            f"| {ms(ceiling.median)} | {ms(ceiling.p99)} | {ceiling.errors} | 1.00 | reference | — |"
        )
    if results.faq_runs:
        faq = median_run(results.faq_runs)
        ratio = faq.rate / ceiling.rate if ceiling else None
        against = f"{ratio:.2f} × ceiling" if ratio is not None else "no ceiling run"
        result = verdict(ratio >= FAQ_GOAL) if ratio is not None else "—"
        out.append(
            f"| 2 | FAQ answer, full stack | {results.throughput_load} | {faq.rate:,.0f} req/s | {ms(faq.median)} "
            f"| {ms(faq.p99)} | {faq.errors} | {against} | ≥ {FAQ_GOAL:.2f} × ceiling | {result} |"
        )
    if results.llm:
        llm = results.llm
        latencies = [s.latency for s in llm.ok]
        p99 = percentile(latencies, 99)
        overhead = median(llm.overheads)
        out += [
            f"| 3 | LLM answers, gevent workers | {results.llm_load} | {llm.rate:,.1f} answers/s "
            f"| {sec(median(latencies))} | {sec(p99)} | {llm.errors} | {llm.rate / LLM_GOAL:.2f} × goal "
            f"| ≥ {LLM_GOAL:.0f} answers/s | {verdict(llm.rate >= LLM_GOAL)} |",
            f"| 3 | … p99 latency | | | | {sec(p99)} | | {sec(p99)} | ≤ {LLM_P99_GOAL} s "
            f"| {verdict(p99 is not None and p99 <= LLM_P99_GOAL)} |",
            f"| 3 | … backend overhead (answer − stand-in's hold), per answer | {len(llm.overheads)} answers matched "
            f"| | {ms(overhead)} | {ms(percentile(llm.overheads, 99))} | | {ms(overhead)} at the median "
            f"| ≤ {OVERHEAD_GOAL * 1000:.0f} ms at the median "
            f"| {verdict(overhead is not None and overhead <= OVERHEAD_GOAL)} |",
        ]
    if results.light:
        light = results.light
        latencies = [s.latency for s in light.ok]
        out.append(
            f"| 3 | LLM answers, gevent, below saturation (for the overhead) | {results.light_load} "
            f"| {light.rate:,.1f} answers/s | {sec(median(latencies))} | {sec(percentile(latencies, 99))} "
            f"| {light.errors} | overhead {ms(median(light.overheads))} (median), "
            f"{ms(percentile(light.overheads, 99))} (p99) | no goal: shows the cost without queueing | — |"
        )
    if results.sync:
        sync = results.sync
        latencies = [s.latency for s in sync.ok]
        out.append(
            f"| 3 | LLM answers, sync workers (contrast) | {results.sync_load} | {sync.rate:,.1f} answers/s "
            f"| {sec(median(latencies))} | {sec(percentile(latencies, 99))} | {sync.errors} "
            f"| {sync.rate / LLM_GOAL:.3f} × goal | contrast only | — |"
        )
    if results.stream:
        stream = results.stream
        gaps = stream.first_delta_gaps
        gap_median, gap_p99 = median(gaps), percentile(gaps, 99)
        held = min(stream.client_peak, stream.standin_peak)
        count = len(stream.samples)
        out.append(
            f"| 4 | streaming: {count} concurrent SSE streams | {results.stream_load} "
            f"| {len(stream.completed)}/{count} completed; {held} held at once | {ms(gap_median)} | {ms(gap_p99)} | {count - len(stream.completed)} "
            f"| first delta {ms(gap_median)} (median), {ms(gap_p99)} (p99) after the stand-in's "
            f"| {count} held; first delta ≤ {FIRST_DELTA_GOAL * 1000:.0f} ms after the stand-in's "
            f"| {verdict(held >= count and gap_p99 is not None and gap_p99 <= FIRST_DELTA_GOAL)} |"
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
