"""CPU per DeepSeek call of our client: completions and streams against the benchmark stand-in.

The stand-in (bench/standin.py) runs in a process of its own, answering at once, so
`time.process_time()` of this process is the client's CPU alone: request building,
the watchdog, reading and parsing. One call at a time, on warm keep-alive connections.

Info log lines are filtered out (their cost is the same for any client). With `--gevent`
the process is monkey-patched first, as gunicorn's gevent workers are.

Run:  python -m bench.llm_client --calls 2000 [--gevent]
"""

from __future__ import annotations

import sys

if "--gevent" in sys.argv:  # before anything imports socket, ssl or threading
    from gevent import monkey

    monkey.patch_all()

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from app.services.llm import DeepSeekClient
from bench.servers import start_standin

MESSAGES = [
    {"role": "system", "content": "You are GreenGrocer Foods' support assistant. Answer briefly."},
    {"role": "user", "content": "Do you sell organic kale, and can it come today?"},
]


def measure(label: str, calls: int, call: Callable[[], object]) -> tuple[str, float, float]:
    """Run `call` `calls` times; return the label, CPU and wall microseconds per call."""
    for _ in range(min(calls // 10, 100)):  # warm the pool and the caches
        call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return label, (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


def main(argv: list[str] | None = None) -> None:
    """Start the stand-in, time the calls, print one line per kind."""
    parser = argparse.ArgumentParser(prog="python -m bench.llm_client", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls of each kind (default 2000)")
    parser.add_argument("--pieces", type=int, default=10, help="content chunks per stream (default 10)")
    parser.add_argument("--gevent", action="store_true", help="monkey-patch with gevent first, as in production")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as workdir:
        standin = start_standin(Path(workdir), latency=0, first_token=0, interval=0, keepalive=1, pieces=args.pieces)
        try:
            client = DeepSeekClient(
                api_key="sk-bench", base_url=standin.url, model="deepseek-chat", timeout=10.0, max_retries=0,
                temperature=0.7, max_tokens=500,
            )
            results = [
                measure("complete", args.calls, lambda: client.complete(MESSAGES)),
                measure(f"stream ({args.pieces} pieces)", args.calls, lambda: list(client.stream(MESSAGES))),
            ]
            client.close()
        finally:
            standin.stop()
    print(f"{'call':<22}{'CPU µs/call':>14}{'wall µs/call':>14}")
    for label, cpu, wall in results:
        print(f"{label:<22}{cpu:>14.0f}{wall:>14.0f}")


if __name__ == "__main__":
    main()
