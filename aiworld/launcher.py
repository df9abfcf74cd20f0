"""Start the farm (`make run`) or run a command beside embedded services (`make test`).

    python -m aiworld.launcher run             # services, migrate, GM, every Procfile process
    python -m aiworld.launcher exec -- CMD...  # services around one command (fresh data with --fresh)
    python -m aiworld.launcher services        # only the embedded services, until Ctrl-C

When DATABASE_URL / BROKER_URL are set, those servers are used and nothing embedded starts.
Ctrl-C (or SIGTERM) stops every process the launcher started, embedded servers included.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from aiworld import env
from aiworld.embedded import EmbeddedError, EmbeddedServices, port_is_free

log = logging.getLogger("aiworld.launcher")

FARM_PROCESSES = ("web", "worker-gpu", "worker-cpu", "worker-train", "beat", "flower", "mapserver")
PROCFILE = env.PROJECT_ROOT / "Procfile"


class LaunchError(Exception):
    """The farm cannot start; the message says what to do."""


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines of an operator's .env into the environment (the environment wins)."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip().removeprefix("export ").strip(), value.strip().strip("'\""))


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    commands = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            commands[match.group(1)] = match.group(2)
    return commands


def start_services(stack: ExitStack, data_dir: Path) -> dict[str, str]:
    """Environment pointing at real servers: the configured ones, else embedded ones we own."""
    values: dict[str, str] = {}
    need_db = not os.environ.get("DATABASE_URL")
    need_broker = not os.environ.get("BROKER_URL")
    if need_db or need_broker:
        if env.is_production():
            raise LaunchError("AIWORLD_ENV=production needs DATABASE_URL and BROKER_URL: "
                              "embedded servers are for development")
        services = EmbeddedServices(data_dir, redis_port=env.get_int("AIWORLD_EMBEDDED_REDIS_PORT", 6390))
        try:
            state = stack.enter_context(services)
        except EmbeddedError as exc:
            raise LaunchError(str(exc)) from exc
        for note in state.notes:
            log.warning(note)
        if need_db:
            values["DATABASE_URL"] = state.database_url
        if need_broker:
            values["BROKER_URL"] = state.broker_url
        log.info("embedded PostgreSQL and Valkey are up (data in %s)", data_dir)
    return values


def child_env(extra: dict[str, str]) -> dict[str, str]:
    environ = dict(os.environ)
    environ.update(extra)
    environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
    environ["PYTHONUNBUFFERED"] = "1"
    bin_dir = str(Path(sys.executable).parent)
    environ["PATH"] = bin_dir + os.pathsep + environ.get("PATH", "")
    return environ


def run_step(command: str, environ: dict[str, str]) -> None:
    log.info("$ %s", command)
    result = subprocess.run(command, shell=True, cwd=env.PROJECT_ROOT, env=environ)
    if result.returncode != 0:
        raise LaunchError(f"`{command}` failed with exit code {result.returncode}")


def stop_tree(process: subprocess.Popen, tracked: set[psutil.Process], grace: float) -> None:
    """SIGTERM the process, wait, then SIGKILL it and every descendant still alive."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        tracked |= set(psutil.Process(process.pid).children(recursive=True))
    except psutil.NoSuchProcess:
        pass
    survivors = [p for p in tracked if p.is_running()]
    for proc in survivors:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(survivors, timeout=5)
    if process.poll() is None:
        process.kill()
        process.wait()


def supervise(command: list[str] | str, environ: dict[str, str], *, shell: bool = False, grace: float = 15.0) -> int:
    """Run a child in its own session (so a terminal's Ctrl-C reaches only us), forward SIGINT and
    SIGTERM as a graceful stop, and leave no descendant behind."""
    process = subprocess.Popen(command, shell=shell, cwd=env.PROJECT_ROOT, env=environ, start_new_session=True)
    tracked: set[psutil.Process] = set()
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while process.poll() is None and stopping["signal"] is None:
            try:
                tracked |= set(psutil.Process(process.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.5)
        if stopping["signal"] is not None:
            log.info("stopping (%s)...", signal.Signals(stopping["signal"]).name)
        stop_tree(process, tracked, grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A stop someone asked for is a clean exit; otherwise report how the child ended.
    return 0 if stopping["signal"] is not None else process.returncode


def banner(environ: dict[str, str]) -> str:
    web = f"http://127.0.0.1:{environ['WEB_PORT']}"
    flower_user, _, flower_password = environ["FLOWER_BASIC_AUTH"].partition(":")
    return "\n".join([
        "",
        "aiworld farm is starting (Ctrl-C stops everything):",
        f"  admin    {web}/admin/   (GM user: {environ.get('GM_USERNAME', 'gm')})",
        f"  Flower   http://127.0.0.1:{environ['FLOWER_PORT']}/   (user {flower_user}, password {flower_password})",
        f"  metrics  {web}/metrics   and Flower's http://127.0.0.1:{environ['FLOWER_PORT']}/metrics",
        f"  health   {web}/healthz   and `python manage.py doctor` from another terminal",
        "  a simulated map server (Procfile `mapserver`) sends monster ticks; its lines show decisions/s",
        "",
    ])


def cmd_run(args: argparse.Namespace) -> int:
    data_dir = env.data_dir()
    web_port = env.get_int("WEB_PORT", 8000, minimum=1, maximum=65535)
    flower_port = env.get_int("FLOWER_PORT", 5555, minimum=1, maximum=65535)
    for name, port in (("WEB_PORT", web_port), ("FLOWER_PORT", flower_port)):
        if not port_is_free(port):
            raise LaunchError(f"port {port} is already in use: stop what holds it, or set {name} to a free port")
    with ExitStack() as stack:
        extra = start_services(stack, data_dir)
        metrics_dir = data_dir / "run" / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)  # counters start afresh with the farm
        metrics_dir.mkdir(parents=True)
        extra.update(WEB_PORT=str(web_port), FLOWER_PORT=str(flower_port), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        gpu_celery = env.PROJECT_ROOT / ".venv-gpu" / "bin" / "celery"
        if gpu_celery.exists() and not os.environ.get("AIWORLD_GPU_CELERY"):
            extra["AIWORLD_GPU_CELERY"] = str(gpu_celery)  # `make install-gpu` made a GPU environment
        extra["FLOWER_BASIC_AUTH"] = env.flower_basic_auth()
        environ = child_env(extra)
        commands = procfile_commands()
        run_step(commands["release"], environ)
        run_step(f"{sys.executable} manage.py ensure_gm", environ)
        if not os.environ.get("DATABASE_URL"):  # embedded defaults: a world to look at, never in production
            run_step(f"{sys.executable} manage.py seed_demo_world", environ)
        names = [name for name in FARM_PROCESSES if name in commands] + list(args.extra)
        print(banner(environ), flush=True)
        honcho = [sys.executable, "-m", "honcho", "start", "-f", str(PROCFILE), "-e", os.devnull, *names]
        return supervise(honcho, environ)


def cmd_exec(args: argparse.Namespace) -> int:
    if not args.command:
        raise LaunchError("nothing to run: python -m aiworld.launcher exec -- COMMAND ...")
    with ExitStack() as stack:
        if args.fresh:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aiworld-")))
            os.environ["AIWORLD_DATA_DIR"] = str(data_dir)
        else:
            data_dir = env.data_dir()
        extra = start_services(stack, data_dir)
        environ = child_env(extra)
        return supervise(args.command, environ, grace=30.0)


def cmd_services(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        extra = start_services(stack, env.data_dir())
        for key, value in extra.items():
            print(f"{key}={value}", flush=True)
        print("embedded services are up; Ctrl-C stops them", flush=True)
        stop = {"now": False}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.update(now=True))
        while not stop["now"]:
            time.sleep(0.5)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launcher %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m aiworld.launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="the whole farm (make run)")
    run.add_argument("extra", nargs="*", help="more Procfile process names to start")
    run.set_defaults(func=cmd_run)
    exe = sub.add_parser("exec", help="run a command with the embedded services (make test)")
    exe.add_argument("--fresh", action="store_true", help="use a temporary data folder, deleted afterwards")
    exe.add_argument("command", nargs=argparse.REMAINDER)
    exe.set_defaults(func=cmd_exec)
    services = sub.add_parser("services", help="only the embedded services")
    services.set_defaults(func=cmd_services)
    args = parser.parse_args(argv)
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    load_dotenv(env.PROJECT_ROOT / ".env")
    try:
        return args.func(args)
    except (LaunchError, env.EnvError) as exc:
        print(f"aiworld: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
