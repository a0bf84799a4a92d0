"""The documented deployment files agree with the app and with what the tests run.

Each file is read the way its program reads it: gunicorn loads gunicorn.conf.py, the
compose file is YAML, and the Dockerfile and nginx.conf are split into their instructions.
"""

from __future__ import annotations

import json
import os
import re
import shlex

import pytest
import yaml
from gunicorn.app.base import Application

from instance.config import Config
from tests.support import PROJECT_ROOT

SETTINGS = {name for name in dir(Config) if name.isupper()}
SERVER_SETTINGS = {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_WORKER_CONNECTIONS", "PROMETHEUS_MULTIPROC_DIR",
                   "FLASK_ENV"}


def compose():
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def dockerfile() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions as (INSTRUCTION, arguments), continued lines joined."""
    text = re.sub(r"\\\n", " ", (PROJECT_ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(word.upper(), rest.strip()) for word, _, rest in
            (line.partition(" ") for line in lines if line and not line.startswith("#"))]


def dockerfile_env() -> dict[str, str]:
    """Return the variables the image's ENV instructions set."""
    pairs = [word.split("=", 1) for name, arguments in dockerfile() if name == "ENV" for word in shlex.split(arguments)]
    return dict(pairs)


def nginx_directives() -> set[tuple[str, ...]]:
    """Return every statement of deploy/nginx.conf as its words, comments dropped."""
    text = re.sub(r"#[^\n]*", "", (PROJECT_ROOT / "deploy" / "nginx.conf").read_text())
    return {tuple(statement.split()) for statement in re.split(r"[;{}]", text) if statement.strip()}


class GunicornConfig(Application):
    """gunicorn's own reading of gunicorn.conf.py, without starting a server."""

    def load_config(self) -> None:
        self.load_config_from_file(str(PROJECT_ROOT / "gunicorn.conf.py"))

    def load(self) -> None:
        raise NotImplementedError


@pytest.fixture
def gunicorn_config(monkeypatch, tmp_path):
    """Load gunicorn.conf.py as gunicorn does, in an environment without any server variable but the given ones."""
    for name in [name for name in os.environ if name.startswith("GUNICORN_") or name in SERVER_SETTINGS | {"BIND"}]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))  # the file sets it when missing

    def load(**environment: str):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return GunicornConfig().cfg

    return load


def test_compose_runs_two_app_instances_behind_a_proxy_with_redis_and_postgres():
    services = compose()["services"]

    assert {"app1", "app2", "proxy", "redis", "postgres", "migrate"} <= set(services)
    for name in ("app1", "app2"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["RATELIMIT_STORAGE_URI"].startswith("redis://")
        assert env["REDIS_URL"].startswith("redis://")  # one token budget for both instances
        assert env["TRUSTED_PROXIES"] == "1"
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]


def test_compose_sets_only_settings_the_app_knows():
    env = compose()["services"]["app1"]["environment"]

    assert set(env) - SERVER_SETTINGS <= SETTINGS


def test_the_image_runs_gunicorn_with_its_config_as_a_non_root_user():
    instructions = dockerfile()

    assert [arguments for name, arguments in instructions if name == "USER"][-1] == "chatbot"
    [command] = [arguments for name, arguments in instructions if name == "CMD"]
    assert json.loads(command) == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert dockerfile_env()["FLASK_ENV"] == "production"


def test_the_proxy_does_not_buffer_streams_and_forwards_the_client_address():
    directives = nginx_directives()

    assert ("proxy_buffering", "off") in directives
    assert ("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for") in directives


def test_the_proxy_spreads_requests_over_every_app_instance_on_the_images_port():
    services = compose()["services"]
    instances = [name for name, service in services.items() if "migrate" in service.get("depends_on", {})]
    port = dockerfile_env()["PORT"]

    upstreams = {words[1] for words in nginx_directives() if words[0] == "server" and len(words) == 2}
    assert instances and upstreams == {f"{name}:{port}" for name in instances}


def test_gunicorn_defaults_to_gevent_workers_on_every_core(gunicorn_config):
    config = gunicorn_config()

    assert config.worker_class_str == "gevent"
    assert config.workers == (os.cpu_count() or 1)
    assert config.worker_connections == 1000
    assert config.bind == ["0.0.0.0:8000"]


def test_gunicorn_takes_its_settings_from_the_environment(gunicorn_config):
    config = gunicorn_config(GUNICORN_WORKER_CLASS="sync", WEB_CONCURRENCY="3", HOST="127.0.0.1", PORT="9000",
                             GUNICORN_WORKER_CONNECTIONS="50", GUNICORN_TIMEOUT="30")

    assert config.worker_class_str == "sync"
    assert (config.workers, config.worker_connections, config.timeout) == (3, 50, 30)
    assert config.bind == ["127.0.0.1:9000"]
