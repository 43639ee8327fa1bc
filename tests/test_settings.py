"""Settings fail at start with a message that names the bad variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GOOD_KEY = "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM="


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DEBUG", "SECRET_KEY", "ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}
    }
    environment.update({"SECRET_KEY": "x", "ENCRYPTION_KEYS": GOOD_KEY, **env})
    return subprocess.run(
        [sys.executable, "-c", "import datamigrator.settings"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_good_environment_loads() -> None:
    assert load_settings().returncode == 0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"ENCRYPTION_KEYS": "not-a-key"}, "ENCRYPTION_KEYS"),
        ({"ENCRYPTION_KEYS": ""}, "ENCRYPTION_KEYS"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"CONN_MAX_AGE": "soon"}, "CONN_MAX_AGE"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
    ],
)
def test_bad_value_fails_naming_the_variable(env: dict[str, str], named: str) -> None:
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.splitlines()[-1]
