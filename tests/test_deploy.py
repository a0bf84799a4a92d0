"""The documented deployment files agree with the app and with what the tests run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from instance.config import Config

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {name for name in dir(Config) if name.isupper()}
SERVER_SETTINGS = {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_WORKER_CONNECTIONS", "PROMETHEUS_MULTIPROC_DIR",
                   "FLASK_ENV"}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


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
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^USER chatbot$", dockerfile, re.M)
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]' in dockerfile
    assert "FLASK_ENV=production" in dockerfile


def test_the_proxy_does_not_buffer_streams_and_forwards_the_client_address():
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()

    assert "proxy_buffering off;" in nginx
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx
    assert "server app1:8000;" in nginx and "server app2:8000;" in nginx


def test_gunicorn_defaults_to_gevent_workers():
    conf = (ROOT / "gunicorn.conf.py").read_text()

    assert 'os.environ.get("GUNICORN_WORKER_CLASS", "gevent")' in conf
