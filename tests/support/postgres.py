"""A throwaway PostgreSQL cluster for the tests marked ``postgres``.

Debian's ``postgresql`` package provides the server (scripts/install-postgres.sh installs it);
its own cluster and service are not used. The cluster lives in a temporary folder, listens on a
free loopback port with its socket in that folder, and is stopped and removed afterwards.
``initdb`` refuses to run as root, so under root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# Bounded waits: a server that does not start or stop in this long is a failure, not a hang.
START_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 120
ROLE = "qa"
PASSWORD = "mật-khẩu-pg-thử"  # non-ASCII on purpose: the URL must be quoted correctly


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL's binaries, else the ones on PATH, else None."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name))

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if debian:
        return debian[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    folder: Path
    port: int
    as_user: str | None  # the OS user the server runs as, when the tests run as root

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, command: Sequence[str | Path | int]) -> str:
        args = [str(c) for c in command]
        if self.as_user:
            args = ["runuser", "-u", self.as_user, "--", *args]
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, cwd=self.folder
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Runs ``statement`` as the superuser, over the socket in the cluster's folder."""
        self._run(
            [
                self.bindir / "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.folder,
                "-p",
                self.port,
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                statement,
            ]
        )

    def start(self) -> None:
        pwfile = self.folder / "superuser-password"
        pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
        if self.as_user:
            shutil.chown(pwfile, self.as_user)
        self._run(
            [
                self.bindir / "initdb",
                "-D",
                self.data,
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                pwfile,
                "--no-sync",
            ]
        )
        self.launch()
        self.add_role(ROLE)

    def launch(self) -> None:
        """Starts the server on the initialised cluster (again, after :meth:`stop`)."""
        # fsync off: a throwaway cluster need not survive a power cut. More connections than the
        # default 100: the stores of earlier tests keep their pooled connections open.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200"
        )
        self._run(
            [
                self.bindir / "pg_ctl",
                "start",
                "-D",
                self.data,
                "-l",
                self.folder / "server.log",
                "-w",
                "-t",
                START_TIMEOUT_S,
                "-o",
                options,
            ]
        )
        self._run(
            [self.bindir / "pg_isready", "-h", "127.0.0.1", "-p", self.port, "-t", START_TIMEOUT_S]
        )

    def add_role(self, role: str) -> str:
        """A login role with the test password; returns its name."""
        quoted = PASSWORD.replace("'", "''")
        self.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{quoted}'")
        return role

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([self.bindir / "pg_ctl", "stop", "-D", self.data, "-m", "immediate"])

    def create_database(self, name: str) -> str:
        """A new, empty database owned by the test role; returns its URL."""
        self.sql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def url(self, database: str, *, role: str = ROLE, password: str = PASSWORD) -> str:
        return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"


def start_cluster(bindir: Path) -> Cluster:
    """Starts a fresh cluster; the caller stops it with :func:`remove_cluster`."""
    as_user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="qa-pg-"))
    if as_user:
        shutil.chown(folder, as_user, as_user)
    cluster = Cluster(bindir=bindir, folder=folder, port=_free_port(), as_user=as_user)
    try:
        cluster.start()
    except BaseException:
        remove_cluster(cluster)
        raise
    return cluster


def remove_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.folder, ignore_errors=True)


__all__ = ["PASSWORD", "ROLE", "Cluster", "postgres_bindir", "remove_cluster", "start_cluster"]
