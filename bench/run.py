"""The benchmark of issues #6 and #12: one command, every goal against the ceiling, one table.

    python -m bench.run                      # every goal, about 5 minutes on 2 cores
    python -m bench.run --quick              # a smoke run of the same (about a minute; figures not comparable)
    python -m bench.run --only llm,stream    # a subset: ceiling, faq, instant, llm, stream, ratelimit, sync

Scenarios: the ceiling (a bare Flask route, same server settings) and the FAQ answer
through the full stack, alternated, `--runs` each; LLM answers from an instant stand-in
(50 clients, `--runs` runs), with the workers', PostgreSQL's and Redis's CPU per answer; LLM
answers from a 1.0 s stand-in (200 clients, 3 turns per conversation); 2,000 concurrent
streams; memory per worker at rest and under the streams; the rate limiter's cost for a
client with 50,000 requests in its window against a fresh one (bench/rate_limit_cost.py);
sync workers only with `--only sync` (a contrast).

Starts its own DeepSeek stand-in (bench/standin.py) and gunicorn servers (the real
gunicorn.conf.py and wsgi.py, settings from the environment; the ceiling is
bench/ceiling.py under the same settings), runs the scenarios one after another, prints
a markdown table and writes it to bench/results/latest.md. Needs PostgreSQL and Redis on
127.0.0.1 (it uses its own database `bench` and its own Redis keys in db 5); `wrk`, when
installed, loads the ceiling and FAQ scenarios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench import scenarios
from bench.rate_limit_cost import LIMIT, rate_limit_costs
from bench.report import Results, machine, render
from bench.servers import (
    PROJECT,
    count_rows,
    delete_redis_keys,
    prepare_database,
    redis_available,
    rss_mib,
    start_gunicorn,
    start_standin,
    total_cpu_cores,
)

SCENARIOS = ("ceiling", "faq", "instant", "llm", "stream", "ratelimit", "sync")
DEFAULT_SCENARIOS = SCENARIOS[:-1]  # sync workers: a contrast, on request
STREAM_PIECES = 10
STREAM_FIRST_TOKEN = 4.0  # seconds of `: keep-alive` before it, so that every stream is open before deltas flow
STREAM_INTERVAL = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description="The benchmark table of issue #12.")
    parser.add_argument("--only", default=",".join(DEFAULT_SCENARIOS),
                        help="comma-separated subset of " + ", ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: short windows, 200 streams, 5,000 prior requests (figures not comparable)")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY (default 2, one per core)")
    parser.add_argument("--runs", type=int, default=3, help="runs of the ceiling and FAQ scenarios (median kept)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per ceiling or FAQ run")
    parser.add_argument("--connections", type=int, default=64, help="connections for the ceiling and FAQ runs")
    parser.add_argument("--latency", type=float, default=1.0, help="the stand-in's latency per answer, seconds")
    parser.add_argument("--clients", type=int, default=200, help="closed-loop clients in the LLM scenario")
    parser.add_argument("--instant-clients", type=int, default=50, help="clients of the instant stand-in's runs")
    parser.add_argument("--instant-seconds", type=float, default=5, help="seconds per instant stand-in run")
    parser.add_argument("--warmup", type=float, default=5, help="LLM warm-up seconds before measuring")
    parser.add_argument("--llm-seconds", type=float, default=15, help="LLM seconds measured")
    parser.add_argument("--light-clients", type=int, default=0,
                        help="clients of a second, short LLM run below saturation (0: skip it)")
    parser.add_argument("--turns", type=int, default=3, help="questions per conversation in the LLM scenario")
    parser.add_argument("--sync-clients", type=int, default=200, help="closed-loop clients against sync workers")
    parser.add_argument("--sync-seconds", type=float, default=8, help="seconds measured against sync workers")
    parser.add_argument("--streams", type=int, default=2000, help="concurrent SSE streams")
    parser.add_argument("--stream-ramp", type=float, default=2.0, help="seconds over which the streams are opened")
    parser.add_argument("--prior", type=int, default=50_000,
                        help="requests the rate-limit scenario's busy client sent before it is measured")
    parser.add_argument("--ratelimit-requests", type=int, default=3_000, help="requests measured per client there")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    parser.add_argument("--output", default=str(PROJECT / "bench" / "results" / "latest.md"),
                        help="where to write the table ('-' for nowhere)")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait up to this long for the machine to be under 20%% busy (others' jobs)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (their folder is printed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.instant_seconds, args.llm_seconds, args.warmup = 1, 1.5, 3, 1
        args.streams, args.prior, args.ratelimit_requests, args.light_clients = 200, 5_000, 600, 0
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def full_stack_env(args: argparse.Namespace, standin_url: str, redis_prefix: str, worker_class: str) -> dict[str, str]:
    """Return the production-like settings of the real app."""
    return {
        "FLASK_ENV": "production",
        "FORCE_HTTPS": "false",  # no TLS on loopback
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_WORKER_CLASS": worker_class,
        "DATABASE_URL": args.database_url,
        "RATELIMIT_STORAGE_URI": args.redis_url,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
        "RATE_LIMITS": "100000000/hour;10000000/minute",
        # room for --streams on the workers: a stream holds its client's connection throughout
        "GUNICORN_WORKER_CONNECTIONS": str(max(1000, -(-args.streams * 5 // 4 // args.workers))),
        "DEEPSEEK_API_KEY": "sk-bench",
        "DEEPSEEK_BASE_URL": standin_url,
        "LOG_FILE": "",
        "LOG_TO_STDOUT": "true",
    }


def settings_notes(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """Describe the settings the table was measured with."""
    keys = ("FLASK_ENV", "FORCE_HTTPS", "WEB_CONCURRENCY", "GUNICORN_WORKER_CLASS", "GUNICORN_WORKER_CONNECTIONS",
            "RATE_LIMITS", "LOG_TO_STDOUT")
    return [
        "full stack: " + ", ".join(f"{key}={env[key]}" for key in keys)
        + "; gunicorn.conf.py defaults otherwise (keepalive 5 s); metrics on "
        "(PROMETHEUS_MULTIPROC_DIR in a temporary folder)",
        f"DATABASE_URL: PostgreSQL, the benchmark's own database ({args.database_url.rsplit('/', 1)[-1]}), "
        "emptied at the start; every answer stores its conversation, question and answer",
        f"RATELIMIT_STORAGE_URI: Redis ({args.redis_url}, a fresh key prefix, deleted at the end): the shared "
        "limiter, as in production; every client is 127.0.0.1, so one client's counters take every request",
        "logs: LOG_TO_STDOUT, redirected to a file (one JSON line per request plus the service events)",
        f"stand-in DeepSeek: bench/standin.py (asyncio) on loopback; JSON answers at once (instant runs) or "
        f"after {args.latency:.1f} s; "
        f"streams: a `: keep-alive` comment every 0.5 s, the first token after {STREAM_FIRST_TOKEN:g} s, then "
        f"{STREAM_PIECES} content chunks {STREAM_INTERVAL:g} s apart",
        "ceiling: bench/ceiling.py, the same gunicorn.conf.py, WEB_CONCURRENCY and worker class",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios and print the table."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops every process it started
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="greengrocer-bench-"))
    redis_prefix = f"bench-{uuid.uuid4().hex[:12]}"
    notes: list[str] = []
    if not redis_available(args.redis_url):
        raise SystemExit(f"Redis does not answer at {args.redis_url} (set --redis-url or BENCH_REDIS_URL)")
    busy = wait_for_quiet(args.wait_quiet)
    notes.append(f"the machine was {busy * 100:.0f}% busy (all cores) in the 2 s before the run started; "
                 "'everything else on the machine' below is CPU that other jobs took during each window")
    print(f"preparing the database {args.database_url} …", file=sys.stderr)
    prepare_database(args.database_url)
    standin = start_standin(workdir, latency=args.latency, first_token=STREAM_FIRST_TOKEN, interval=STREAM_INTERVAL,
                            pieces=STREAM_PIECES, keepalive=0.5)
    env = full_stack_env(args, standin.url, redis_prefix, "gevent")
    command = "python -m bench.run" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))
    results = Results(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        machine=machine(),
        settings=settings_notes(args, env),
        notes=notes,
    )
    running = [standin]
    try:
        run_gevent_scenarios(args, results, workdir, env, standin, running)
        if "sync" in args.only:
            run_sync_scenario(args, results, workdir, env, standin, running)
        if "ratelimit" in args.only:
            print(f"rate limits: a client with {args.prior:,} requests in its window against a fresh one …",
                  file=sys.stderr, flush=True)
            results.rate_limits = rate_limit_costs(args.prior, args.ratelimit_requests)
            results.rate_limit_load = (f"one limit of {LIMIT}; {args.prior:,} requests sent first by the busy "
                                       f"client; {args.ratelimit_requests:,} measured per client, alternated in 3 "
                                       "rounds; a private redis-server per limiter")
        rows = count_rows(args.database_url)
        notes.append(f"stored during the run: {rows['conversations']:,} conversations, {rows['messages']:,} messages")
    finally:
        for process in reversed(running):
            process.stop()
        delete_redis_keys(args.redis_url, redis_prefix)
        if args.keep_logs:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results.wall_seconds = time.monotonic() - started
    table = render(results)
    print(table)
    if args.output != "-":
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("# Benchmark: latest results\n\n" + table)
        print(f"written to {output}", file=sys.stderr)
    return 0


def wait_for_quiet(patience: float) -> float:
    """Return how busy the machine is (0-1) over 2 s, first waiting up to `patience` s for it to fall under 20%."""
    deadline = time.monotonic() + patience
    while True:
        busy0, total0 = total_cpu_cores()
        time.sleep(2)
        busy1, total1 = total_cpu_cores()
        busy = (busy1 - busy0) / max(total1 - total0, 1)
        if busy < 0.2 or time.monotonic() >= deadline:
            return busy
        print(f"the machine is {busy * 100:.0f}% busy; waiting for it to quieten …", file=sys.stderr, flush=True)


def run_gevent_scenarios(args, results, workdir, env, standin, running) -> None:  # type: ignore[no-untyped-def]
    """Ceiling and FAQ (alternating runs), then LLM answers and streams, on gevent workers."""
    wanted = set(args.only)
    if not wanted & {"ceiling", "faq", "instant", "llm", "stream"}:
        return
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    server = start_gunicorn("full-stack", "wsgi:app", workdir, env)
    running.append(server)
    log(f"full stack up on {server.url}; warming up …")
    scenarios.warm_up(server)
    time.sleep(1.0)
    results.rest_rss = {pid: rss_mib(pid) or 0.0 for pid in server.workers()}
    ceiling = None
    if "ceiling" in wanted:
        ceiling = start_gunicorn("ceiling", "bench.ceiling:app", workdir,
                                 {key: env[key] for key in ("WEB_CONCURRENCY", "GUNICORN_WORKER_CLASS")})
        running.append(ceiling)
    if ceiling or "faq" in wanted or "instant" in wanted:
        body = {"message": scenarios.FAQ_QUESTION}
        results.throughput_load = (f"{args.connections} keep-alive connections, {args.runs} runs × "
                                   f"{args.seconds:g} s, median run")
        results.instant_load = (f"{args.instant_clients} closed-loop clients, {args.runs} runs × "
                                f"{args.instant_seconds:g} s after 1 s, {args.turns} questions per conversation, "
                                "median run")
        for target in (ceiling, server if "faq" in wanted else None):
            if target is not None:  # a short unmeasured run first
                scenarios.throughput(target, body, connections=args.connections, seconds=1, workdir=workdir,
                                      database_url=args.database_url)
        for run in range(args.runs):  # alternated, so that a busy moment of the machine hits every one
            if ceiling:
                results.ceiling_runs.append(scenarios.throughput(
                    ceiling, body, connections=args.connections, seconds=args.seconds, workdir=workdir,
                    database_url=args.database_url))
                log(f"ceiling run {run + 1}: {results.ceiling_runs[-1].rate:,.0f} req/s")
            if "faq" in wanted:
                results.faq_runs.append(scenarios.throughput(
                    server, body, connections=args.connections, seconds=args.seconds, workdir=workdir,
                    database_url=args.database_url))
                log(f"FAQ run {run + 1}: {results.faq_runs[-1].rate:,.0f} req/s")
            if "instant" in wanted:
                scenarios.set_standin_latency(standin, 0.0)
                try:
                    results.instant_runs.append(scenarios.llm_answers(
                        server, standin, args.database_url, clients=args.instant_clients, warmup=1.0,
                        seconds=args.instant_seconds, turns=args.turns))
                finally:
                    scenarios.set_standin_latency(standin, args.latency)
                log(f"LLM, instant stand-in, run {run + 1}: {results.instant_runs[-1].rate:,.0f} answers/s")
    if ceiling:
        ceiling.stop()
        running.remove(ceiling)
    if "llm" in wanted:
        scenarios.check_answer(server, "Do you sell organic kale? [bench:check]", "llm")
        results.llm_load = (f"{args.clients} closed-loop clients, {args.warmup:g} s warm-up, {args.llm_seconds:g} s "
                            f"measured; {args.turns} questions per conversation (history resent)")
        log(f"LLM: {args.clients} clients for {args.warmup + args.llm_seconds:g} s …")
        results.llm = scenarios.llm_answers(server, standin, args.database_url, clients=args.clients,
                                            warmup=args.warmup, seconds=args.llm_seconds, turns=args.turns)
        log(f"LLM: {results.llm.rate:,.1f} answers/s")
        if args.light_clients:
            results.light_load = f"{args.light_clients} closed-loop clients, 3 s warm-up, 10 s measured"
            results.light = scenarios.llm_answers(server, standin, args.database_url, clients=args.light_clients,
                                                  warmup=3, seconds=10, turns=args.turns)
            log(f"LLM, {args.light_clients} clients: {results.light.rate:,.1f} answers/s")
    if "stream" in wanted:
        length = STREAM_FIRST_TOKEN + (STREAM_PIECES - 1) * STREAM_INTERVAL
        results.stream_load = f"{args.streams} streams opened over {args.stream_ramp:g} s, each ≥ {length:g} s long"
        log(f"streaming: {args.streams} streams …")
        results.stream = scenarios.held_streams(server, standin, args.database_url, count=args.streams,
                                                ramp=args.stream_ramp, pieces=STREAM_PIECES)
        log(f"streaming: {len(results.stream.completed)} completed")
    server.stop()
    running.remove(server)


def run_sync_scenario(args, results, workdir, env, standin, running) -> None:  # type: ignore[no-untyped-def]
    """LLM answers on sync workers, for contrast: a short run, since each worker answers one at a time."""
    server = start_gunicorn("sync", "wsgi:app", workdir, {**env, "GUNICORN_WORKER_CLASS": "sync"})
    running.append(server)
    scenarios.check_answer(server, scenarios.FAQ_QUESTION, "faq")
    results.sync_rest_rss = {pid: rss_mib(pid) or 0.0 for pid in server.workers()}
    results.sync_load = (f"{args.sync_clients} closed-loop clients, {args.sync_seconds:g} s, no warm-up; "
                         "answers finished inside the window")
    print(f"sync: {args.sync_clients} clients for {args.sync_seconds:g} s …", file=sys.stderr, flush=True)
    results.sync = scenarios.llm_answers(server, standin, args.database_url, clients=args.sync_clients, warmup=0.0,
                                         seconds=args.sync_seconds, turns=1)
    server.stop(timeout=10)
    running.remove(server)


if __name__ == "__main__":
    sys.exit(main())
