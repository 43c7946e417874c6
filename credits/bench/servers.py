"""Throwaway servers on local ports for the benchmarks and the fault suite.

Everything here starts real programs in a private temporary folder and stops them again:
a PostgreSQL cluster (``initdb``/``pg_ctl``) and a streaming replica of it
(``pg_basebackup``), PgBouncer in transaction pooling, a pg_auto_failover formation (a
monitor and two nodes, ``pg_autoctl``) and the app under gunicorn with
``deploy/gunicorn.conf.py``. Nothing touches a server it did not start.

PostgreSQL, PgBouncer and pg_autoctl refuse to run as root: when this process is root they
run as the ``postgres`` user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


def as_service_user(cmd: list[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    if _is_root():
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def pgbouncer_program() -> str | None:
    """Where PgBouncer is (Debian installs it in /usr/sbin, not on every user's PATH)."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return found if Path(found).exists() else None


def pg_bindir() -> Path:
    """The PostgreSQL server programs' folder (``pg_config --bindir``)."""
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def private_dir(prefix: str) -> Path:
    """A new temporary folder the service user owns (and we can read)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if _is_root():
        shutil.chown(path, "postgres", "postgres")
        path.chmod(0o755)
    return path


def wait_for_port(port: int, *, timeout_s: float = 30, process: Any = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving port {port} exited ({process.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s} s")


# --- PostgreSQL ----------------------------------------------------------------------------


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own in ``root/name`` on ``port`` (trust auth, local)."""

    root: Path
    name: str = "pg"
    port: int = field(default_factory=free_port)

    @property
    def datadir(self) -> Path:
        return self.root / self.name

    @property
    def logfile(self) -> Path:
        return self.root / f"{self.name}.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The libpq connection string of ``database`` on this cluster."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            as_service_user([str(pg_bindir() / args[0]), *args[1:]]),
            capture_output=True,
            text=True,
            check=check,
            cwd=self.root,
        )

    def init(self, **settings: str | int) -> PostgresCluster:
        """``initdb`` and write the settings (listen on 127.0.0.1 only, sockets here)."""
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-N")
        defaults: dict[str, str | int] = {
            "port": self.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "replica",
            "max_wal_senders": 10,
            "max_connections": 200,
        }
        self.configure(**{**defaults, **settings})
        hba = self.datadir / "pg_hba.conf"
        with hba.open("a") as fh:
            fh.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def configure(self, **settings: str | int) -> None:
        """Append ``settings`` to postgresql.conf (they win over earlier lines)."""
        with (self.datadir / "postgresql.conf").open("a") as fh:
            for name, value in settings.items():
                fh.write(f"{name} = {value}\n")

    def start(self) -> PostgresCluster:
        """Start and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                  "start")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop (``fast``: roll back sessions; ``immediate``: like a crash)."""
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop",
                      check=False)  # fmt: skip

    def restart(self, mode: str = "immediate") -> None:
        """Stop in ``mode`` and start again (immediate: crash recovery on start)."""
        self.stop(mode)
        self.start()

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement (autocommit) and return its rows."""
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str) -> str:
        """Create ``name``; return its SQLAlchemy URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def replica(self, name: str = "replica", **settings: str | int) -> PostgresCluster:
        """A streaming replica of this cluster (``pg_basebackup -R``), started."""
        standby = PostgresCluster(self.root, name)
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-D", str(standby.datadir), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        standby.configure(port=standby.port, hot_standby="on", **settings)
        return standby.start()

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop("immediate")


# --- PgBouncer ------------------------------------------------------------------------------


@dataclass
class PgBouncer:
    """PgBouncer in transaction pooling in front of PostgreSQL at ``server_port``."""

    root: Path
    server_port: int
    port: int = field(default_factory=free_port)
    pool_size: int = 20
    #: The roles that may connect through it (trust auth still needs them listed).
    users: tuple[str, ...] = ("postgres",)
    process: subprocess.Popen[bytes] | None = None

    def url(self, database: str, user: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` through this PgBouncer, as ``user``."""
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PgBouncer:
        folder = self.root / f"pgbouncer-{self.port}"
        folder.mkdir()
        (folder / "userlist.txt").write_text("".join(f'"{u}" ""\n' for u in self.users))
        ini = folder / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 1000\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_db_connections = 0\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
            f"pidfile = {folder / 'pgbouncer.pid'}\n"
            "admin_users = postgres\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        if _is_root():
            for path in (folder, *folder.iterdir()):
                shutil.chown(path, "postgres", "postgres")
        with (folder / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(
                as_service_user([pgbouncer_program() or "pgbouncer", str(ini)]),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # runuser passes the signal on; pgbouncer stops at once on SIGINT... and SIGTERM.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- pg_auto_failover -----------------------------------------------------------------------


@dataclass
class AutoFailover:
    """A pg_auto_failover formation: a monitor and two data nodes with synchronous
    replication, each a ``pg_autoctl ... --run`` process (its keeper) in ``root``.

    The monitor's health checks are tightened so that a lost primary is failed over within
    seconds rather than the default half minute (docs/operations.md says what to set in
    production)."""

    root: Path
    monitor_port: int = field(default_factory=free_port)
    node_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    keepers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: The node killed on purpose (its keeper's exit is expected).
    killed: str = ""
    logs: list[Any] = field(default_factory=list)

    def _env(self, pgdata: Path, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{pg_bindir()}:/usr/local/bin:/usr/bin:/bin",
            "PGDATA": str(pgdata),
            "PGPORT": str(port),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "data"),
            "HOME": str(self.root),
        }

    def _start(self, name: str, args: list[str], pgdata: Path, port: int) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.logs.append(log)
        env = self._env(pgdata, port)
        cmd = as_service_user(
            ["env", *(f"{k}={env[k]}" for k in _AUTOCTL_ENV), "pg_autoctl", *args]
        )
        self.keepers[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True
        )

    @property
    def monitor_uri(self) -> str:
        return (
            f"postgres://autoctl_node@localhost:{self.monitor_port}/pg_auto_failover"
            "?sslmode=require"
        )

    def start_monitor(self) -> None:
        pgdata = self.root / "monitor"
        self._start(
            "monitor",
            ["create", "monitor", "--ssl-self-signed", "--hostname", "localhost",
             "--auth", "trust", "--pgport", str(self.monitor_port), "--run"],
            pgdata,
            self.monitor_port,
        )  # fmt: skip
        self._wait_sql(
            self.monitor_port, "pg_auto_failover", "SELECT 1 FROM pgautofailover.node LIMIT 0"
        )
        # Decide within seconds that a node is gone (defaults: 20 s unhealthy, 30 s demote).
        for setting, value in (
            ("pgautofailover.health_check_period", "1000"),
            ("pgautofailover.health_check_timeout", "1000"),
            ("pgautofailover.health_check_max_retries", "1"),
            ("pgautofailover.health_check_retry_delay", "500"),
            ("pgautofailover.node_considered_unhealthy_timeout", "2000"),
            ("pgautofailover.primary_demote_timeout", "3000"),
        ):
            self._sql(
                self.monitor_port, "pg_auto_failover", f"ALTER SYSTEM SET {setting} = {value}"
            )
        self._sql(self.monitor_port, "pg_auto_failover", "SELECT pg_reload_conf()")

    def start_node(self, index: int) -> None:
        port = self.node_ports[index]
        self._start(
            f"node{index}",
            ["create", "postgres", "--ssl-self-signed", "--hostname", "localhost",
             "--auth", "trust", "--pgport", str(port), "--name", f"node{index}",
             "--dbname", "credits", "--monitor", self.monitor_uri, "--run"],
            self.root / f"node{index}",
            port,
        )  # fmt: skip

    def start(self, *, timeout_s: float = 240) -> float:
        """Monitor, first node (primary), second node (its synchronous standby); returns the
        seconds it took."""
        started = time.monotonic()
        self.start_monitor()
        self.start_node(0)
        self.wait_until(
            lambda st: any(n["reported"] == "single" for n in st),
            timeout_s=timeout_s,
            what="the first node to run alone",
        )
        self.start_node(1)
        primary = self.node_ports[0]

        def paired(state: list[dict[str, Any]]) -> bool:
            # The standby's pg_basebackup waits for a checkpoint on the primary, spread over
            # minutes by default: ask for it now (an immediate CHECKPOINT finishes one that
            # is under way at full speed).
            with contextlib.suppress(Exception):
                self._sql(primary, "postgres", "CHECKPOINT")
            return sorted(n["reported"] for n in state) == ["primary", "secondary"]

        self.wait_until(paired, timeout_s=timeout_s, what="primary and synchronous standby")
        return time.monotonic() - started

    def state(self) -> list[dict[str, Any]]:
        """The monitor's view: each node's name, port and reported/assigned state."""
        rows = self._sql(
            self.monitor_port,
            "pg_auto_failover",
            "SELECT nodename, nodeport, reportedstate::text, goalstate::text "
            "FROM pgautofailover.node ORDER BY nodeid",
        )
        return [{"name": r[0], "port": r[1], "reported": r[2], "goal": r[3]} for r in rows]

    def wait_until(self, predicate: Any, *, timeout_s: float, what: str) -> float:
        """Poll the monitor until ``predicate(state)``; return the seconds it took."""
        start = time.monotonic()
        last: Any = None
        while time.monotonic() - start < timeout_s:
            with contextlib.suppress(Exception):
                last = self.state()
                if predicate(last):
                    return time.monotonic() - start
            for name, keeper in self.keepers.items():
                if keeper.poll() is not None and name != self.killed:
                    raise RuntimeError(f"pg_autoctl {name} exited: {self.log_tail(name)}")
            time.sleep(0.5)
        raise TimeoutError(f"{what}: not after {timeout_s} s (monitor says {last})")

    def primary_port(self) -> int | None:
        """The port of the node the monitor holds as primary, if any."""
        for node in self.state():
            if node["reported"] == "primary" and node["goal"] == "primary":
                return int(node["port"])
        return None

    def kill_node(self, port: int) -> None:
        """SIGKILL a node's keeper and its PostgreSQL at once: the host is gone."""
        index = self.node_ports.index(port)
        name = f"node{index}"
        self.killed = name
        keeper = self.keepers[name]
        pidfile = self.root / name / "postmaster.pid"
        postmaster = int(pidfile.read_text().split()[0]) if pidfile.exists() else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(keeper.pid, signal.SIGKILL)
        if postmaster is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)
        keeper.wait(10)

    def url(self, database: str = "credits") -> str:
        """A multi-host URL that follows the primary (``target_session_attrs=read-write``)."""
        hosts = "&".join(f"host=localhost:{p}" for p in self.node_ports)
        return f"postgresql+psycopg://postgres@/{database}?{hosts}&target_session_attrs=read-write"

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        """Stop every keeper and its PostgreSQL (immediately: this is a throwaway)."""
        for keeper in self.keepers.values():
            if keeper.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(keeper.pid, signal.SIGKILL)
                keeper.wait(10)
        for folder in ("monitor", "node0", "node1"):
            pidfile = self.root / folder / "postmaster.pid"
            if pidfile.exists():
                with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        for log in self.logs:
            log.close()
        self.logs.clear()

    @staticmethod
    def _sql(port: int, database: str, statement: str) -> list[tuple[Any, ...]]:
        import psycopg

        dsn = f"host=127.0.0.1 port={port} user=postgres dbname={database} sslmode=prefer"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def _wait_sql(self, port: int, database: str, statement: str, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._sql(port, database, statement)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)


_AUTOCTL_ENV = ("PATH", "PGDATA", "PGPORT", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HOME")


# --- the app under gunicorn ----------------------------------------------------------------


@dataclass
class AppServer:
    """The app as production serves it: ``gunicorn -c deploy/gunicorn.conf.py
    credits.wsgi:app`` with ``env`` (CREDITS_* settings) on a free port."""

    env: Mapping[str, str]
    log_path: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True) -> AppServer:
        env = {
            **self.env,
            "CREDITS_BIND": f"127.0.0.1:{self.port}",
            "CREDITS_WORKERS": str(self.workers),
        }
        env.setdefault("CREDITS_ACCESS_LOG", "")
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "credits.wsgi:app"],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: kill() must reach a worker forked a moment ago too.
            start_new_session=True,
        )
        self.wait("/readyz" if wait_ready else "/healthz")
        return self

    def wait(self, path: str = "/readyz", timeout_s: float = 60) -> None:
        """Wait until ``path`` answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                exc.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{path} not ready after {timeout_s} s: {self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' process ids (children of the master)."""
        assert self.process is not None
        return children(self.process.pid)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT: gunicorn's quick shutdown (SIGTERM waits for the graceful timeout).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (a crash of the whole server)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def copy_instance(source: Path, target: Path) -> Path:
    """A second server's instance folder: the same secret key, voucher signing keys and
    statement signing key (every server must sign, and publish, the same keys: made now if
    the first server has not made them yet, as `credits init-db` does)."""
    from credits.cli import ensure_instance_keys

    ensure_instance_keys(source)
    target.mkdir(parents=True, exist_ok=True)
    if (source / "secret_key").exists():
        shutil.copy2(source / "secret_key", target / "secret_key")
    for folder in ("voucher-keys", "statement-keys"):
        if (source / folder).exists():
            shutil.copytree(source / folder, target / folder, dirs_exist_ok=True)
    return target


@contextlib.contextmanager
def servers(*items: Any) -> Iterator[None]:
    """Stop every item (anything with ``stop()``) on the way out, last started first."""
    try:
        yield
    finally:
        for item in reversed(items):
            with contextlib.suppress(Exception):
                item.stop()


def dump(obj: Any) -> str:
    """Compact JSON for log lines."""
    return json.dumps(obj, sort_keys=True, default=str)
