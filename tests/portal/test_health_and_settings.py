import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_broker_is_unreachable(client):
    # Nothing listens on port 1: the connection is refused at once.
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={}):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
    assert response.json()["database"] == "ok"


def test_healthz_is_503_when_the_database_fails(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def broken(self, sql, params=None):
        raise OperationalError("database is gone")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"


def test_the_database_probe_makes_one_query(client, django_assert_num_queries, monkeypatch):
    with django_assert_num_queries(1):
        response = client.get("/healthz/db")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    from django.db.backends.utils import CursorWrapper

    def broken(self, sql, params=None):
        raise OperationalError("database is gone")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/healthz/db")
    assert (response.status_code, response.json()["database"]) == (503, "OperationalError")


def _manage(*args, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LANDPORT_", "DJANGO_"))}
    environment.update(env, DJANGO_SETTINGS_MODULE="portal.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "LANDPORT_ENV": "production",
    "SECRET_KEY": "k" * 20 + "-a-production-key-that-is-long-enough-0123456789",
    "ALLOWED_HOSTS": "port.example",
    "SMS_TRANSPORT": "notifications.transports.SmsTransport",
    "DATABASE_URL": "sqlite:////tmp/landport-deploy-check.sqlite3",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def test_production_refuses_to_start_without_a_real_secret_key():
    result = _manage("check", **{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "Production needs SECRET_KEY" in result.stderr


def test_a_malformed_boolean_stops_the_process():
    result = _manage("check", DEBUG="ture")
    assert result.returncode != 0
    assert "is not a boolean" in result.stderr


def test_deploy_check_with_production_settings_prints_no_warning():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_openapi_schema_is_valid_and_warning_free():
    result = _manage("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    assert result.returncode == 0, result.stderr


def test_api_docs_are_served_without_a_cdn(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_schema_is_english_whatever_the_callers_language(client, firm_a):
    firm_a.admin.language = "zh-hans"
    firm_a.admin.save()
    client.force_login(firm_a.admin)
    schema = client.get("/api/v1/schema/?format=json").json()
    countries = schema["components"]["schemas"]["CountryEnum"]["description"]
    assert "`KZ` - Kazakhstan" in countries


def test_env_example_lists_every_variable_the_settings_read():
    read = set(re.findall(r'env_\w+\(\s*"(\w+)"', (ROOT / "portal/settings.py").read_text()))
    listed = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - listed == set()
    assert len(read) > 20
