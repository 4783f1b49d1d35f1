"""A throwaway PostgreSQL cluster for the store tests: ``initdb`` + ``pg_ctl start`` on a unix
socket in a private temporary directory, no TCP, stopped and removed at the end.

As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root): the
directory is given to that user and every server program runs through ``runuser``. Where no
``pg_ctl`` can be found (PATH, ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``) or
psycopg is not installed, ``skip_reason`` says so and the tests that need it are skipped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SERVER_USER = "postgres"
PG_CONFIG = "pg_config"
DEBIAN_ROOT = Path("/usr/lib/postgresql")
PORT = 5432  # only names the socket file: listen_addresses is empty, so no TCP at all
START_TIMEOUT = 60
# Settings for a scratch cluster: nothing here needs to survive a power cut.
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "60",
    "shared_buffers": "16MB",
}


def find_bindir() -> Path | None:
    """The directory of ``pg_ctl`` and ``initdb``, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [PG_CONFIG, "--bindir"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        if out and (Path(out) / "pg_ctl").is_file():
            return Path(out)
    versions = sorted(
        DEBIAN_ROOT.glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def skip_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here (None when they can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install -e '.[postgres]' (make does)"
    if find_bindir() is None:
        return (
            "pg_ctl not found (PATH, pg_config --bindir, /usr/lib/postgresql/*/bin): install "
            "PostgreSQL (apt-get install postgresql) to run the PostgreSQL store tests"
        )
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root, and there is no {SERVER_USER!r} user to run pg_ctl as"
    return None


@dataclass
class Cluster:
    """A running scratch cluster; ``conninfo(db)`` connects to one of its databases."""

    root: Path
    bindir: Path
    names: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    def conninfo(self, dbname: str = "postgres", *, user: str = SERVER_USER) -> str:
        """A libpq key=value connection string over the cluster's unix socket."""
        return f"host={self.socket_dir} port={PORT} user={user} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """The same as a ``postgresql://`` URL (the socket directory as ``host``)."""
        from urllib.parse import quote

        return (
            f"postgresql://{SERVER_USER}@/{dbname}?host={quote(str(self.socket_dir))}&port={PORT}"
        )

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            if shutil.which("runuser"):
                argv = ["runuser", "-u", SERVER_USER, "--", *argv]
            else:
                argv = ["su", SERVER_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            timeout=START_TIMEOUT,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", "TZ": "UTC"},
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            import pwd

            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            os.chown(self.socket_dir, account.pw_uid, account.pw_gid)
        init = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        self._serve("start")

    def _serve(self, action: str) -> None:
        """``pg_ctl start`` or ``restart`` with the cluster's settings, waiting until it
        accepts connections (the log goes to a file: an inherited pipe would never close)."""
        options = " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        started = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            f"-k {self.socket_dir} -p {PORT} {options}",
            "-w",
            "-t",
            str(START_TIMEOUT),
            *(("-m", "fast") if action == "restart" else ()),
            action,
        )
        if started.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl {action} failed: {started.stderr.strip()}\n{log}")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, *, down_for: float = 0.0) -> None:
        """Restart the server as an operator would: ``pg_ctl restart -m fast`` (every session
        is ended), or, with ``down_for``, stop it, leave it down that many seconds, start it."""
        if down_for <= 0:
            self._serve("restart")
            return
        import time

        self.stop("fast")
        time.sleep(down_for)
        self._serve("start")

    def create_database(self) -> str:
        """A new, empty database; its name."""
        import psycopg

        name = f"t{next(self.names)}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a scratch cluster for the block, then stop it and remove its files."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("pg_ctl not found")
    root = Path(tempfile.mkdtemp(prefix="agentos-pg-"))
    cluster = Cluster(root=root, bindir=bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
