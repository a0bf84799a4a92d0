"""The development server (`python run.py`): one log line per request, and LOG_HASH_IP followed everywhere."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from app import create_app
from app.utils.logger import keyed_hash
from tests.helpdesk import WEBHOOK_SECRET, enqueue, new_conversation
from tests.support import PROJECT_ROOT, free_port, log_events, read_log, wait_for_port, wait_until


@pytest.mark.slow  # a new interpreter, and the debug reloader's second one
def test_the_development_server_logs_each_request_once_with_the_address_hashed(tmp_path):
    port, log_file = free_port(), tmp_path / "app.log"
    env = {
        **os.environ,
        "FLASK_ENV": "development",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "DEEPSEEK_API_KEY": "",
        "LOG_FILE": str(log_file),
        "LOG_TO_STDOUT": "true",
        "LOG_HASH_IP": "true",
        "LOG_HASH_SALT": "pepper",
        "PYTHONUNBUFFERED": "1",
    }
    # Its own session: the debug reloader starts a child, and both must go at the end.
    server = subprocess.Popen([sys.executable, "run.py"], cwd=PROJECT_ROOT, env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
        with socket.create_connection(("127.0.0.1", port)) as connection:  # werkzeug logs a bad request line itself
            connection.sendall(b"NONSENSE\r\n\r\n")
            connection.recv(1024)
        assert wait_until(lambda: any(line.get("logger") == "werkzeug" and "code 400" in line["event"]
                                      for line in read_log(log_file)), timeout=10.0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()

    hashed = keyed_hash("127.0.0.1", "pepper")
    lines = read_log(log_file)
    about_health = [line for line in lines if "/health" in json.dumps(line)]
    assert [(line["event"], line.get("client_ip")) for line in about_health] == [("request", hashed)]
    werkzeug_error = [line["event"] for line in lines
                      if line.get("logger") == "werkzeug" and "code 400" in line["event"]]
    assert werkzeug_error and all(event.startswith(f"{hashed} - - ") for event in werkzeug_error)
    after_start = [line for line in lines if "Running on" not in line["event"]]
    assert "127.0.0.1" not in json.dumps(after_start)
    assert log_events(output).count("request") == 1  # stdout has the same lines, once each


@pytest.mark.slow  # a new interpreter, and the debug reloader's second one
def test_the_development_server_runs_one_webhook_dispatcher_in_its_serving_process(tmp_path, helpdesk):
    port, log_file, database_url = free_port(), tmp_path / "app.log", f"sqlite:///{tmp_path / 'dev.db'}"
    webhook = {"HANDOFF_WEBHOOK_URL": helpdesk.url, "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET}
    env = {**os.environ, "FLASK_ENV": "development", "PORT": str(port), "DATABASE_URL": database_url,
           "DEEPSEEK_API_KEY": "", "LOG_FILE": str(log_file), "WEBHOOK_POLL_SECONDS": "0.1", **webhook}
    server = subprocess.Popen([sys.executable, "run.py"], cwd=PROJECT_ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=60)
        producer = create_app({"FLASK_ENV": "testing", "DATABASE_URL": database_url, "LOG_FILE": "", **webhook})
        enqueue(producer, new_conversation(producer))  # as a request to the server would
        [received] = helpdesk.wait_for(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    assert received.signed
    started = [line for line in read_log(log_file) if line["event"] == "webhook_dispatcher_started"]
    assert len(started) == 1  # in the reloader's child, which serves; not in its watching parent
