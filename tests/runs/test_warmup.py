"""A fresh process does its first-use work before it takes any: runs/warmup.py.

Each check runs in a process of its own: this one has long since built everything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a first run would build: the Responses types' validators, the state card's template.
PROBE = """
import django
django.setup()
from django.template import engines
from openai.types.responses import Response, ResponseCompletedEvent, ResponseTextDeltaEvent
{action}
cached = engines["django"].engine.template_loaders[0].get_template_cache
print(Response.__pydantic_complete__, ResponseCompletedEvent.__pydantic_complete__,
      ResponseTextDeltaEvent.__pydantic_complete__, "runs/_state.html" in cached)
"""


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TASKS_BACKEND"}}
    return env | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DASHBOARD_DATA_DIR": str(tmp_path / "data"),
    }


def _probe(tmp_path: Path, action: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(action=action)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-4:]


def test_a_fresh_process_has_built_nothing_until_it_warms_up(tmp_path):
    assert _probe(tmp_path, "") == ["False", "False", "False", "False"]
    assert _probe(tmp_path, "from runs.warmup import warm_up; warm_up()") == ["True"] * 4


def test_the_asgi_application_is_warm_before_it_serves(tmp_path):
    assert _probe(tmp_path, "import config.asgi") == ["True"] * 4


def test_the_worker_warms_up_before_it_claims_and_says_how_long_it_took(tmp_path):
    env = _env(tmp_path) | {"TASKS_BACKEND": "db", "DJANGO_SECRET_KEY": "k" * 50}
    manage = [sys.executable, "manage.py"]
    migrated = subprocess.run(
        [*manage, "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [*manage, "worker", "--no-reap"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while "warmed up in" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert "slots, queues default,host-" in log.read_text()
    seconds = float(log.read_text().split("warmed up in ")[1].split()[0])
    assert 0 < seconds < 30
