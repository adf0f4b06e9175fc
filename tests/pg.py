"""A real PostgreSQL 16 + pgvector server for tests, from the `pgserver` wheel's binaries (pip install qa[pg]).

Started in a temp folder on a free 127.0.0.1 port with password (scram) authentication, so wrong-password tests
are real. PostgreSQL refuses to run as root; when the suite runs as root the server runs as `nobody` (the data
folder is created outside pytest's 0700 temp root and handed to that user). fsync is off: tests kill clients,
never the machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER, PASSWORD = "postgres", "qa-test-secret"


def pginstall() -> Path:
    """pgserver's PostgreSQL tree (bin, lib, share), found without importing pgserver (which writes lock files)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed: pip install -e '.[pg]'")
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (root / "bin" / "postgres").exists():
        raise RuntimeError(f"pgserver has no PostgreSQL binaries at {root}")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One running server; `url()` gives a connection URL for a database and role."""

    folder: Path
    port: int
    install: Path
    user: str | None  # OS user the server runs as (None: this process's user)
    options: str = ""  # what pg_ctl passes to postgres (-h, -p, -c ...)

    @classmethod
    def start(cls, install: Path | None = None, *, settings: dict[str, str] | None = None) -> PgServer:
        install = install or pginstall()
        run_as = "nobody" if os.geteuid() == 0 else None
        folder = Path(tempfile.mkdtemp(prefix="qa-pg-"))  # not under pytest's tmp root: that is 0700 root's
        pwfile = folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if run_as:
            import pwd

            u = pwd.getpwnam(run_as)
            for p in (folder, pwfile):
                os.chown(p, u.pw_uid, u.pw_gid)
        try:
            cls._run(install, run_as, folder, "initdb", "-D", str(folder / "data"), "-U", SUPERUSER, "--pwfile",
                     str(pwfile), "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        except RuntimeError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        pwfile.unlink()
        opts = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "60"}
        opts |= settings or {}
        last: Exception | None = None
        for _ in range(3):  # a free port can be taken between asking and binding: try another
            port = _free_port()
            server_opts = f"-h 127.0.0.1 -p {port} -k {folder} " + " ".join(f"-c {k}={v}" for k, v in opts.items())
            try:
                server = cls(folder, port, install, run_as, server_opts)
                server.restart()
                return server
            except RuntimeError as e:
                last = e
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {last}")

    @staticmethod
    def _run(install: Path, user: str | None, cwd: Path, exe: str, *args: str) -> str:
        r = subprocess.run(
            [str(install / "bin" / exe), *args], user=user, cwd=cwd, capture_output=True, text=True, timeout=120
        )
        if r.returncode != 0:
            log = cwd / "log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            raise RuntimeError(f"{exe} failed ({r.returncode}): {r.stderr.strip()[-1500:]} {tail}")
        return r.stdout

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str = PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser (autocommit, so CREATE DATABASE works); rows if it returns any."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str, *, owner: str = SUPERUSER, vector: bool = True) -> str:
        """A fresh database (with the vector extension unless asked not to); returns the superuser URL."""
        self.sql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        if vector:
            self.sql("CREATE EXTENSION vector", database=name)
        return self.url(name)

    def restart(self) -> None:
        """Start (again) on the same folder and port."""
        self._run(self.install, self.user, self.folder, "pg_ctl", "-D", str(self.folder / "data"), "-l",
                  str(self.folder / "log"), "-w", "-t", "60", "-o", self.options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(self.install, self.user, self.folder, "pg_ctl", "-D", str(self.folder / "data"), "-m", mode,
                      "-w", "stop")  # fmt: skip

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def install_without_pgvector(folder: Path) -> Path:
    """A copy of pgserver's PostgreSQL with pgvector removed: a real server that lacks the extension (~35 MB).
    The binaries find their libraries at $ORIGIN/../../../pgserver.libs, so the copy keeps that shape."""
    src = pginstall()
    dest = folder / "site" / "pgserver" / "pginstall"
    shutil.copytree(src, dest, symlinks=True)
    libs = src.parent.parent / "pgserver.libs"
    if libs.is_dir():
        (folder / "site" / "pgserver.libs").symlink_to(libs)
    for p in (dest / "share" / "postgresql" / "extension").glob("vector*"):
        p.unlink()
    for p in (dest / "lib" / "postgresql").glob("vector*"):
        p.unlink()
    for p in dest.rglob("*"):  # the server user must read and run it
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o055)
    for p in (folder, *folder.rglob("*")):
        if p.is_dir() and not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o055)
    return dest


def wait_until(predicate, timeout: float = 30.0, step: float = 0.01) -> bool:  # noqa: ANN001
    """Poll `predicate` until it is true or the timeout passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False
