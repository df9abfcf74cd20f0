"""`python manage.py mapserver` against a real gpu worker: ticks go out, decisions come back."""

import re
import subprocess
import sys

import pytest

from aiworld.env import PROJECT_ROOT
from aiworld.mobs.state import ARCHETYPES
from tests.support.models import install_models
from tests.support.processes import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_simulated_map_servers_get_their_decisions(worker_env, tmp_path):
    install_models(tmp_path / "models", ARCHETYPES)
    worker = start_worker(tmp_path, "gpu", worker_env, pool="threads", concurrency=4)
    try:
        result = subprocess.run([sys.executable, "manage.py", "mapserver", "--servers", "2", "--monsters", "50",
                                 "--tick-ms", "100", "--duration", "3"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=60, env=worker_env)
    finally:
        worker.stop()
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    numbers = dict(re.findall(r"(errors|missing) (\d+)", summary))
    decisions = int(re.search(r"messages, (\d+) decisions", summary).group(1))
    assert decisions >= 2 * 50 * 20, summary  # at least two thirds of the 3 s worth of ticks
    assert numbers == {"errors": "0", "missing": numbers["missing"]} and int(numbers["missing"]) <= 2, summary
    assert "L3:" in summary


def test_absurd_rates_are_refused(worker_env):
    result = subprocess.run([sys.executable, "manage.py", "mapserver", "--servers", "100", "--monsters", "4000",
                             "--tick-ms", "10", "--duration", "1"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60, env=worker_env)
    assert result.returncode != 0 and "above the cap" in result.stderr
