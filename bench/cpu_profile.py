"""CPU per request of the app's hot paths, in one process, without a load generator.

    python -m bench.cpu_profile                       # FAQ and LLM paths: µs of CPU per request, median of 3 runs
    python -m bench.cpu_profile --path faq --profile  # and where the FAQ path's CPU goes (cProfile, top 35)

The real app in production settings (FLASK_ENV=production, PostgreSQL, the limiter on Redis,
JSON log lines, Prometheus metrics in multiprocess mode), driven by Flask's test client, so
that what is measured is the app's own CPU: no server, no sockets to a client. The LLM path
talks to the asyncio stand-in (bench/standin.py) with no latency. The figure is this
process's CPU time (user + system) per request, which other jobs on the machine barely
change, unlike throughput; on a busy machine the fastest of several short runs is the
steadiest figure (others' jobs only ever add to it): use it to compare a change before and
after. PostgreSQL's and
Redis's own CPU is not in it (bench.run reports their share under load).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.servers import delete_redis_keys, prepare_database, start_standin
from bench.stats import median

FAQ_QUESTION = "What are your delivery hours?"
LLM_QUESTION = "Do you sell organic kale? [bench:cpu]"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("faq", "llm", "both"), default="both")
    parser.add_argument("--requests", type=int, default=200, help="requests per run")
    parser.add_argument("--runs", type=int, default=9, help="runs per path (the fastest and the median are shown)")
    parser.add_argument("--turns", type=int, default=1, help="questions per conversation (history resent)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions for each path")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    return parser.parse_args(argv)


def build_app(args: argparse.Namespace, standin_url: str, workdir: Path, prefix: str):  # type: ignore[no-untyped-def]
    """Build the app as production runs it, its log lines going to a file in `workdir`."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")  # as gunicorn.conf.py sets it
    (workdir / "metrics").mkdir()
    from app import create_app

    return create_app({
        "FLASK_ENV": "production",
        "FORCE_HTTPS": False,
        "DATABASE_URL": args.database_url,
        "RATELIMIT_STORAGE_URI": args.redis_url,
        "RATELIMIT_KEY_PREFIX": prefix,
        "RATE_LIMITS": "100000000/hour;10000000/minute",
        "DEEPSEEK_API_KEY": "sk-bench",
        "DEEPSEEK_BASE_URL": standin_url,
        "LOG_FILE": "",
        "LOG_TO_STDOUT": True,  # production's default; stdout is a file here
    })


def ask(client, message: str, conversation: str | None) -> str:  # type: ignore[no-untyped-def]
    """Ask one question; return the conversation id."""
    body = {"message": message, **({"conversation_id": conversation} if conversation else {})}
    response = client.post("/api/v1/chat", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)[:300]}")
    return response.get_json()["conversation_id"]


def run(client, message: str, requests: int, turns: int) -> None:  # type: ignore[no-untyped-def]
    """Ask `requests` questions, `turns` per conversation."""
    conversation = None
    for number in range(requests):
        conversation = ask(client, message, conversation if number % turns else None)


def measure(client, message: str, args: argparse.Namespace) -> list[float]:  # type: ignore[no-untyped-def]
    """Return the CPU µs per request of each run."""
    run(client, message, 50, args.turns)  # warm: connections, caches, the stand-in's first answers
    per_request = []
    for _ in range(args.runs):
        started = time.process_time()
        run(client, message, args.requests, args.turns)
        per_request.append((time.process_time() - started) / args.requests * 1e6)
    return per_request


def main(argv: list[str] | None = None) -> int:
    """Measure each path and print its CPU per request (and its profile)."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="greengrocer-cpu-"))
    prefix = f"bench-cpu-{uuid.uuid4().hex[:12]}"
    report = sys.stderr
    stdout = os.dup(1)
    log = os.open(workdir / "app.log", os.O_WRONLY | os.O_CREAT)
    os.dup2(log, 1)  # the app's JSON log lines go to a file, as they would to a log collector
    prepare_database(args.database_url)
    standin = start_standin(workdir, latency=0.0, first_token=0.0, interval=0.0, pieces=3, keepalive=0.5)
    try:
        client = build_app(args, standin.url, workdir, prefix).test_client()
        paths = {"faq": FAQ_QUESTION, "llm": LLM_QUESTION}
        for name in (paths if args.path == "both" else [args.path]):
            runs = measure(client, paths[name], args)
            print(f"{name}: {min(runs):,.0f} µs of CPU per request at best, {median(runs):,.0f} median "
                  f"({args.runs} runs of {args.requests} requests, {args.turns} per conversation)",
                  file=report, flush=True)
            if args.profile:
                profiler = cProfile.Profile(time.process_time)  # CPU, not the waits for PostgreSQL
                profiler.runcall(run, client, paths[name], args.requests, args.turns)
                pstats.Stats(profiler, stream=report).sort_stats(args.sort).print_stats(35)
    finally:
        standin.stop()
        delete_redis_keys(args.redis_url, prefix)
        os.dup2(stdout, 1)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
