"""Live events between separate processes sharing Redis, and a hub under gevent as gunicorn's workers run it.

Needs TEST_REDIS_URL (across processes) or redis-server (gevent, on a private Redis whose
clients can be counted); skipped without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from app.services.live_events import LiveEvents
from tests.support import PROJECT_ROOT as PROJECT

pytestmark = pytest.mark.slow  # new interpreters, and 1000 greenlets

SUBSCRIBER = """
import json, sys, time
from app.services.live_events import LiveEvents

url, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
hub = LiveEvents(url, prefix)
with hub.subscribe("conversation:1") as subscription:
    print("ready", flush=True)
    for _ in range(rounds):
        woken = subscription.wait(10.0)
        at = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
        print(json.dumps({"woken": woken, "at": at, "payloads": [n.payload for n in subscription.received()]}),
              flush=True)
hub.close()
"""

GEVENT_WORKER = """
from gevent import monkey
monkey.patch_all()

import json, sys, threading, time
import gevent
import redis
from app.services.live_events import LiveEvents

url, count = sys.argv[1], int(sys.argv[2])
hub = LiveEvents(url, "shop:")
other_instance = LiveEvents(url, "shop:")
subscribed, woken = [], {}

def wait(n):
    with hub.subscribe(f"conversation:{n}") as subscription:
        subscribed.append(n)
        if subscription.wait(30.0):
            woken[n] = (time.monotonic(), [note.payload for note in subscription.received()])

greenlets = [gevent.spawn(wait, n) for n in range(count)]
while len(subscribed) < count:
    gevent.sleep(0.01)
cpu = time.process_time()
gevent.sleep(1.0)  # every greenlet waiting, nothing published
idle_cpu = time.process_time() - cpu
published_at = time.monotonic()
for n in range(count):
    other_instance.publish(f"conversation:{n}", {"n": n})
gevent.joinall(greenlets, timeout=30)
clients = redis.Redis.from_url(url).client_list()
listeners = [t.name for t in threading.enumerate() if t.name == "live-events"]
hub.close()
other_instance.close()
print(json.dumps({
    "patched": monkey.is_module_patched("threading"),
    "listeners": listeners,
    "idle_cpu": idle_cpu,
    "woken": len(woken),
    "payloads_right": all(payloads == [{"n": n}] for n, (_, payloads) in woken.items()),
    "last_woken_after": max(at for at, _ in woken.values()) - published_at if woken else None,
    "clients": len(clients),
    "subscribed_clients": sum(1 for c in clients if int(c["psub"]) or int(c["sub"])),
    "threads_left": [t.name for t in threading.enumerate() if t.name == "live-events"],
}))
"""


def run_python(code: str, *args: str, timeout: float = 60.0) -> subprocess.Popen[str]:
    """Start `python -c code args...` in the project folder, reading its stdout line by line."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_notification_reaches_another_process_within_2_seconds(redis_url):
    url = redis_url
    prefix, rounds = f"test-{uuid.uuid4().hex}:", 10
    child = run_python(SUBSCRIBER, url, prefix, str(rounds))
    hub = LiveEvents(url, prefix)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready", child.stderr
        latencies = []
        for n in range(rounds):
            published_at = time.monotonic()
            hub.publish("conversation:1", {"message_id": n})
            line = json.loads(child.stdout.readline())
            assert line["woken"] is True and line["payloads"] == [{"message_id": n}]
            latencies.append(line["at"] - published_at)
        assert child.wait(10) == 0
    finally:
        child.kill()
        hub.close()

    assert 0 < max(latencies) < 2.0, latencies


def test_under_gevent_1000_waiting_greenlets_share_one_connection_and_burn_no_cpu(private_redis):
    worker = run_python(GEVENT_WORKER, private_redis.url, "1000")
    try:
        stdout, stderr = worker.communicate(timeout=90)
    finally:
        worker.kill()
    assert worker.returncode == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])

    assert result["patched"] and result["listeners"] == ["live-events"]  # one listener, a greenlet here
    assert result["woken"] == 1000 and result["payloads_right"]
    assert result["last_woken_after"] < 2.0, result
    assert result["idle_cpu"] < 0.1, result  # 1000 waiters for 1 s: no polling
    assert result["subscribed_clients"] == 1  # one pub/sub connection for 1000 subscriptions
    assert result["clients"] == 3, result  # that one, the other instance's publisher, the counting client
    assert result["threads_left"] == []
