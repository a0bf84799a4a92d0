"""The benchmark harness's pure parts: its statistics, its options and the goal table it prints."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bench.loadgen import Sample, StreamSample, Throughput, closed_loop
from bench.rate_limit_cost import Cost, StrategyCost
from bench.report import Results, goal_rows, render
from bench.run import parse_args
from bench.scenarios import LlmResult, StreamResult
from bench.stats import median, peak_overlap, percentile


def test_statistics():
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([]) is None
    assert percentile(range(1, 101), 99) == 99 and percentile([], 50) is None
    assert peak_overlap([(0, 2), (1, 3), (2.5, 4), (5, 6)]) == 2


def test_a_closed_loop_counts_every_answer_that_arrives_in_the_window():
    async def answer_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"Content-Length"))
            await reader.readexactly(length)
            await asyncio.sleep(0.25)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        writer.close()

    async def run() -> tuple[list[Sample], float, float]:
        server = await asyncio.start_server(answer_slowly, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await closed_loop("127.0.0.1", port, lambda _tag, _conversation: b"{}", clients=4, warmup=0.1,
                                     duration=1.05)

    # A thread of its own: in the whole suite, Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        samples, start, end = thread.submit(asyncio.run, run()).result()

    assert all(start <= sample.finished <= end and sample.status == 200 for sample in samples)
    # 4 clients, answers every ~0.25 s: 4 each arrive in the window (at ~0.25, 0.5, 0.75 and 1.0 s); counting only
    # the answers whose request also started in it would give 3 each, 0.75 x the throughput.
    assert len(samples) >= 14


def test_quick_is_a_short_run_of_every_goal():
    quick, full = parse_args(["--quick"]), parse_args([])

    assert quick.only == full.only and {"ceiling", "faq", "instant", "llm", "stream", "ratelimit"} <= set(full.only)
    assert "sync" not in full.only
    assert quick.seconds < full.seconds and quick.streams < full.streams == 2000 and quick.prior < full.prior


def llm_result(rate: float, latency: float, cpu: dict[str, float]) -> LlmResult:
    samples = [Sample(0.0, latency, 200, str(n)) for n in range(int(rate * 10))]
    return LlmResult(clients=50, seconds=10.0, samples=samples, cpu=cpu)


def results() -> Results:
    stream_samples = [StreamSample(str(n), 0.0, 200, 1.0, 2.0, 9.0, deltas=10) for n in range(2000)]
    cost = Cost(redis_cpu_us=15.0, latency_us=50.0, app_cpu_us=40.0, redis_commands=8.0)
    return Results(
        date="today", command="python -m bench.run", machine="test", settings=[],
        ceiling_runs=[Throughput(4000 * 5, 5.0, 0.01, 0.02, 0, "asyncio client") for _ in range(3)],
        faq_runs=[Throughput(rate * 5, 5.0, 0.01, 0.02, 0, "asyncio client") for rate in (1900, 2100, 2000)],
        instant_runs=[llm_result(900.0, 0.05, {"gunicorn workers": 1.5, "PostgreSQL (this database's backends)": 0.3,
                                               "Redis": 0.1})],
        llm=llm_result(195.0, 1.2, {}),
        stream=StreamResult(stream_samples, 10, first_delta_gaps=[0.01] * 2000, standin_peak=2000,
                            peak_rss={1: 180.0}),
        rest_rss={1: 120.0, 2: 125.0},
        rate_limits=[StrategyCost("ours", 50_000, cost, cost, 1024)],
    )


def test_the_table_names_every_goal_with_its_figure_and_whether_it_was_met():
    rows = {goal: (measured, met) for goal, measured, _target, met in goal_rows(results())}

    assert rows["FAQ answer through the full stack"] == ("2,000 req/s = 0.50 × the ceiling's 4,000", True)
    assert rows["LLM answers, instant stand-in, 50 clients"][1] is False  # 900 / 4,000 = 0.22
    assert rows["… CPU per answer (same run)"][0].startswith("workers 1.67 ms; PostgreSQL 0.33 ms (16%)")
    assert rows["LLM answers, 1.0 s stand-in, 200 clients, 3 turns"] == ("195.0 answers/s", True)
    assert rows["… p99 latency"] == ("1.200 s", False)
    assert rows["2,000 concurrent streams on the workers"][1] is True
    assert rows["memory per worker at rest"] == ("125 MiB (largest worker)", True)
    assert rows["rate limiting, a client with 50,000 requests in the window vs a fresh one"][1] is True
    table = render(results())
    assert "| FAQ answer through the full stack | 2,000 req/s = 0.50 × the ceiling's 4,000 | ≥ 0.50 × ceiling | met |" \
        in table
    assert "**missed**" in table
