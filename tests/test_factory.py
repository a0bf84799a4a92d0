"""create_app: picking the config class, environment variables, .env files and overrides."""

from __future__ import annotations

import pytest
from dotenv import dotenv_values

import app as app_module
from app import create_app
from app.storage.database import upgrade_schema
from instance.config import Config, DevelopmentConfig, ProductionConfig, TestingConfig, config_class, settings_for
from tests.support import PROJECT_ROOT


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Log to a temporary file and read .env files from an empty folder (load_dotenv writes os.environ)."""
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "app.log"))
    monkeypatch.setattr(app_module, "PROJECT_ROOT", tmp_path)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("development", DevelopmentConfig),
        ("testing", TestingConfig),
        ("production", ProductionConfig),
        ("TestingConfig", TestingConfig),
        ("  Production ", ProductionConfig),
    ],
)
def test_config_class_by_name(name, cls):
    assert config_class(name) is cls


def test_unknown_config_name_is_refused():
    with pytest.raises(ValueError, match="unknown configuration 'staging'"):
        config_class("staging")


def test_flask_env_picks_the_class_and_production_is_the_default(monkeypatch):
    monkeypatch.delenv("FLASK_ENV", raising=False)
    assert create_app().config["ENV_NAME"] == "production"

    monkeypatch.setenv("FLASK_ENV", "testing")
    app = create_app()
    assert app.config["ENV_NAME"] == "testing"
    assert app.config["TESTING"] is True


def test_a_class_or_a_name_can_be_passed():
    assert create_app(DevelopmentConfig).config["DEBUG"] is True
    assert create_app("testing").config["RATE_LIMITS"] == "5 per minute"


def test_a_mapping_overrides_on_top_of_its_class():
    app = create_app({"FLASK_ENV": "testing", "MAX_MESSAGE_CHARS": 12})

    assert app.config["TESTING"] is True
    assert app.config["MAX_MESSAGE_CHARS"] == 12
    assert "FLASK_ENV" not in app.config


def test_environment_variables_override_defaults_with_their_types(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_TIMEOUT", "12.5")
    monkeypatch.setenv("DEEPSEEK_MAX_RETRIES", "4")
    monkeypatch.setenv("LOG_TO_STDOUT", "yes")
    monkeypatch.setenv("DEEPSEEK_MODEL", "deepseek-reasoner")

    settings = settings_for(ProductionConfig)

    assert settings["DEEPSEEK_TIMEOUT"] == 12.5
    assert settings["DEEPSEEK_MAX_RETRIES"] == 4
    assert settings["LOG_TO_STDOUT"] is True
    assert settings["DEEPSEEK_MODEL"] == "deepseek-reasoner"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DEEPSEEK_TIMEOUT", "soon", "DEEPSEEK_TIMEOUT must be a number, got 'soon'"),
        ("DEEPSEEK_MAX_RETRIES", "2.5", "DEEPSEEK_MAX_RETRIES must be an integer, got '2.5'"),
        ("LOG_TO_STDOUT", "maybe", "LOG_TO_STDOUT must be true or false, got 'maybe'"),
    ],
)
def test_bad_environment_values_are_refused_with_the_variables_name(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=expected):
        settings_for(Config)


def test_dotenv_file_is_read_and_real_variables_win(monkeypatch, tmp_path):
    (tmp_path / ".env.testing").write_text("SUPPORT_CONTACT=from-the-file\nDEEPSEEK_MODEL=file-model\n")
    monkeypatch.setattr(app_module, "PROJECT_ROOT", tmp_path)
    monkeypatch.delenv("SUPPORT_CONTACT", raising=False)  # restored (removed) after the test
    monkeypatch.setenv("DEEPSEEK_MODEL", "real-model")

    app = create_app("testing")

    assert app.config["SUPPORT_CONTACT"] == "from-the-file"
    assert app.config["DEEPSEEK_MODEL"] == "real-model"


def test_the_shipped_development_env_file_holds_no_key():
    settings = dotenv_values(PROJECT_ROOT / ".env.development")

    assert settings["DEEPSEEK_API_KEY"] == ""


def test_apps_are_independent(tmp_path):
    first = create_app({"FLASK_ENV": "testing", "MAX_MESSAGE_CHARS": 5, "DATABASE_URL": f"sqlite:///{tmp_path}/1.db"})
    second = create_app({"FLASK_ENV": "testing", "MAX_MESSAGE_CHARS": 50, "DATABASE_URL": f"sqlite:///{tmp_path}/2.db"})
    upgrade_schema(second)

    assert first.test_client().post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 400
    assert second.test_client().post("/api/v1/chat", json={"message": "delivery hours"}).status_code == 200
