"""A PostgreSQL server of the test's own (Debian's binaries, a temporary data
folder, a free loopback port), which the test may stop and start at will; the
machine's service is never touched."""

import glob
import os
import shutil
import subprocess
import tempfile

from sinks import free_port


def _binaries():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


class PostgresServer:
    available = _binaries() is not None

    def __init__(self):
        self.bin = _binaries()
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="idp-pg-")
        self.data = os.path.join(self.folder, "data")
        # PostgreSQL refuses to run as root: then it runs as the postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.folder, self.user)
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale", "C")
        self.start()

    def _run(self, tool, *args):
        subprocess.run([os.path.join(self.bin, tool), *args], user=self.user, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def url(self, database="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self):
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l",
                  os.path.join(self.folder, "log"), "-w", "start")

    def stop(self, mode="immediate"):
        """``immediate``: as if the machine lost power (every connection cut)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def create_database(self, name):
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def destroy(self):
        try:
            self.stop("fast")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)
