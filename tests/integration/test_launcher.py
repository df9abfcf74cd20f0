"""`make run` end to end: the launcher starts its own embedded PostgreSQL and Valkey, migrates,
creates the GM, starts every Procfile process; the GM logs in, Flower shows one worker per queue,
doctor passes; Ctrl-C leaves no process behind."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from aiworld.embedded import free_port
from aiworld.env import PROJECT_ROOT
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def launcher_env(data_dir: Path, **extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "BROKER_URL", "RESULT_BACKEND_URL", "GM_PASSWORD", "FLOWER_BASIC_AUTH")}
    environ.update(AIWORLD_DATA_DIR=str(data_dir), AIWORLD_ENV="development", PYTHONUNBUFFERED="1", **extra)
    return environ


def flower_workers(port: int, auth: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/workers?refresh=1",
                                     headers={"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return {}


def queues_online(workers: dict) -> dict[str, list[str]]:
    online: dict[str, list[str]] = {}
    for name, info in workers.items():
        for queue in info.get("active_queues") or []:
            online.setdefault(queue["name"], []).append(name)
    return online


def gm_login(web_port: int, username: str, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{web_port}"
    form = opener.open(f"{base}/admin/login/?next=/admin/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password,
                                   "next": "/admin/"}).encode()
    request = urllib.request.Request(f"{base}/admin/login/?next=/admin/", data=data, headers={"Referer": base})
    return opener.open(request, timeout=10).read().decode()


def test_make_run_brings_up_the_whole_farm_and_ctrl_c_stops_everything(tmp_path):
    data_dir = tmp_path / "data"
    web_port, flower_port = free_port(), free_port()
    # Hold the broker's preferred port: the launcher must pick another one and say so.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    redis_port = taken.getsockname()[1]
    environ = launcher_env(data_dir, WEB_PORT=str(web_port), FLOWER_PORT=str(flower_port),
                           AIWORLD_EMBEDDED_REDIS_PORT=str(redis_port), CPU_CONCURRENCY="1", WEB_CONCURRENCY="1")
    log_path = tmp_path / "run.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        # its own process group, as in a terminal, so that Ctrl-C can be sent the way a terminal sends it
        launcher = subprocess.Popen([sys.executable, "-m", "aiworld.launcher", "run"], cwd=PROJECT_ROOT, env=environ,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    descendants: set[psutil.Process] = set()
    try:
        def log_text() -> str:
            return log_path.read_text(errors="replace")

        password = wait_for(lambda: re.search(r"Created GM superuser 'gm' with password: (\S+)", log_text()),
                            90, what="GM created").group(1)
        secrets_env = (data_dir / "secrets.env").read_text()
        flower_auth = "flower:" + re.search(r"FLOWER_PASSWORD=(\S+)", secrets_env).group(1)

        online = wait_for(lambda: (lambda q: q if all(q.get(n) for n in ("gpu", "cpu", "train")) else None)(
            queues_online(flower_workers(flower_port, flower_auth))), 60, interval=1, what="Flower: a worker per queue")
        flower_seconds = time.monotonic() - started
        assert all(len(online[q]) == 1 for q in ("gpu", "cpu", "train")), online
        assert flower_seconds <= 60, f"Flower showed every queue's worker only after {flower_seconds:.0f}s"
        assert flower_workers(flower_port, "flower:wrong") == {}  # behind basic auth

        state = json.loads((data_dir / "run" / "services.json").read_text())
        assert f":{redis_port}/" not in state["broker_url"]
        assert "is taken" in log_text()

        page = gm_login(web_port, "gm", password)
        assert "Site administration" in page and "Dead letters" in page

        doctor = subprocess.run([sys.executable, "manage.py", "doctor"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=120, env=launcher_env(data_dir))
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr

        descendants = set(psutil.Process(launcher.pid).children(recursive=True))
        assert len(descendants) >= 8  # honcho, 6 processes, pool children, embedded servers
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground process group
        try:
            code = launcher.wait(60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            code = None
        taken.close()
        leftovers = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        for proc in leftovers:
            proc.kill()
    assert code == 0, log_path.read_text(errors="replace")[-3000:]
    assert leftovers == [], [p.cmdline() for p in leftovers]
    assert not (data_dir / "run" / "services.json").exists()


def test_a_taken_web_port_gives_a_clear_message(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "aiworld.launcher", "run"], cwd=PROJECT_ROOT,
                                env=launcher_env(tmp_path, WEB_PORT=str(port)), capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr and "WEB_PORT" in result.stderr
