"""``idp serve`` as an operator runs it: two workers, stopped by Ctrl-C (SIGINT to
the process group) or SIGTERM, a worker killed, a port already taken, metrics
added up across workers."""

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis

from conftest import REDIS_URL
from sinks import free_port

IDP = os.path.join(os.path.dirname(sys.executable), "idp")
TOKEN = "serve-test-metrics-token"
STOP_WITHIN = 15  # seconds: Granian's worker kill timeout is 10


def get(port, path, headers=None, timeout=10):
    """One request on its own connection; ``(status, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "localhost", "Connection": "close",
                                           **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def group_members(pgid):
    """Processes of a process group, zombies excluded."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def port_is_free(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Server:
    """``idp serve --workers 2`` in its own process group, output in a file,
    started by absolute path with an empty PATH."""

    def __init__(self, tmp_path, **env):
        self.port = free_port()
        self.prefix = f"idptest:serve:{secrets.token_hex(4)}:"
        self.env = {**os.environ, "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
                    "IDP_KEYS_DIR": str(tmp_path / "keys"), "IDP_REDIS_URL": REDIS_URL,
                    "IDP_REDIS_PREFIX": self.prefix, "IDP_METRICS_TOKEN": TOKEN,
                    "PATH": "", **env}  # as systemd may start it: nothing found through PATH
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = tmp_path / f"serve-{self.port}.log"
        subprocess.run([IDP, "init"], env=self.env, cwd=tmp_path, check=True,
                       capture_output=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([IDP, "serve", "--port", str(self.port), "--workers", "2"],
                                     env=self.env, cwd=tmp_path, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_for(lambda: self.output().count("Started worker-") >= 2, 90, "workers")
        self.granian = int(re.search(r"Granian main process (\d+)", self.output()).group(1))
        assert get(self.port, "/healthz")[0] == 200

    def output(self):
        return self.log_path.read_text()

    def wait_for(self, condition, seconds, what):
        deadline = time.monotonic() + seconds
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"idp serve exited ({self.proc.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {seconds} s:\n{self.output()}")
            time.sleep(0.1)

    def processes(self):
        return group_members(self.proc.pid) + group_members(self.granian)

    def worker_pid(self, n):
        return int(re.findall(rf"worker-{n} with PID: (\d+)", self.output())[-1])

    def stopped_within(self, seconds):
        """Seconds until every process is gone, or None if some outlive ``seconds``."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if not self.processes():
                return time.monotonic() - started
            time.sleep(0.05)
        return None

    def close(self):
        for pgid in (self.proc.pid, self.granian):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, AttributeError):
                pass
        self.log.close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(self.prefix + "*"):
            client.delete(key)


@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path)
    yield started
    started.close()


def metrics_dir_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as fh:
        env = dict(item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item)
    return env[b"PROMETHEUS_MULTIPROC_DIR"].decode()


def test_ctrl_c_ends_every_process_and_frees_the_port(server):
    metrics_dir = metrics_dir_of(server.granian)
    assert os.path.isdir(metrics_dir)
    # Counted by both workers, added up by /metrics in whichever answers it.
    for _ in range(60):
        assert get(server.port, "/readyz")[0] == 200
    status, text = get(server.port, "/metrics", {"Authorization": "Bearer " + TOKEN})
    assert status == 200
    assert 'idp_http_requests_total{endpoint="ops.readyz",method="GET",status="200"} 60.0' in text
    assert len([name for name in os.listdir(metrics_dir) if name.endswith(".db")]) >= 2

    os.killpg(server.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert server.stopped_within(STOP_WITHIN) is not None, server.processes()
    assert server.proc.wait(1) == 0
    assert port_is_free(server.port)
    assert not os.path.exists(metrics_dir)
    assert "Traceback" not in server.output()
    assert "Stopped." in server.output()


def test_sigterm_under_load_lets_requests_finish(server):
    results, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                results.append(get(server.port, "/.well-known/openid-configuration")[0])
            except ConnectionRefusedError:
                results.append("refused")  # the listener is closed: never accepted
            except OSError as exc:
                results.append(type(exc).__name__)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    server.proc.send_signal(signal.SIGTERM)
    took = server.stopped_within(STOP_WITHIN)
    stop.set()
    for thread in threads:
        thread.join()
    assert took is not None, server.processes()
    print(f"\nstopped {took:.2f} s after SIGTERM with 8 clients; {results.count(200)} answered",
          sorted(set(map(str, results))))
    assert server.proc.wait(1) == 0
    assert port_is_free(server.port)
    assert results.count(200) > 0
    # After the stop, connections are refused. Granian may close a connection it
    # accepted but had not read yet (one per client at most); requests being
    # served finish (test_a_request_in_flight_finishes).
    dropped = [r for r in results if r not in (200, "refused")]
    assert set(dropped) <= {"RemoteDisconnected", "ConnectionResetError"}
    assert len(dropped) <= len(threads)
    assert "Traceback" not in server.output()


def test_a_request_in_flight_finishes(tmp_path):
    """The server setup of idp serve (idp/ops/server.py) around an app whose
    /slow takes 3 s: SIGTERM during it still answers it, then everything ends."""
    port = free_port()
    code = ("import sys; from idp.ops.server import run; "
            f"sys.exit(run('serve_target:app', '127.0.0.1', {port}, 2, 4))")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(tmp_path / "out.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "out.log").read_text().count("Started worker-") >= 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        answer = {}
        slow = threading.Thread(target=lambda: answer.update(r=get(port, "/slow")))
        slow.start()
        time.sleep(1)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        slow.join(10)
        assert answer["r"] == (200, "done /slow")
        assert proc.wait(STOP_WITHIN) == 0
        took = time.monotonic() - stopped_at
        assert 1.5 < took < STOP_WITHIN  # it waited for /slow, not for the kill timeout
        assert port_is_free(port)
        assert "Traceback" not in (tmp_path / "out.log").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(server):
    victim = server.worker_pid(1)
    os.kill(victim, signal.SIGKILL)
    # Connections already queued at the dying worker's socket are reset with it
    # (Granian binds one SO_REUSEPORT socket per worker; Linux's
    # net.ipv4.tcp_migrate_req=1 would hand them to the others): start after that.
    server.wait_for(lambda: victim not in server.processes(), 10, "the worker's end")
    time.sleep(1)
    answers = []
    server.wait_for(lambda: answers.append(get(server.port, "/healthz")[0])
                    or server.worker_pid(1) != victim and "Started worker-1" in
                    server.output().rsplit("Respawning worker-1", 1)[-1], 60, "respawn")
    assert set(answers) == {200}
    assert "Unexpected exit from worker-1" in server.output()
    assert "Respawning worker-1" in server.output()
    assert [get(server.port, "/healthz")[0] for _ in range(10)] == [200] * 10
    server.proc.send_signal(signal.SIGTERM)
    assert server.stopped_within(STOP_WITHIN) is not None, server.processes()
    assert "Traceback" not in server.output()


def test_a_port_in_use_is_refused(tmp_path):
    env = {**os.environ, "IDP_INSTANCE_PATH": str(tmp_path / "instance")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([IDP, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"Error: 127.0.0.1:{port} is already in use: is another server running?" \
        in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
