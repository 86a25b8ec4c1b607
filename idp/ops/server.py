"""Running the WSGI app under Granian so that it starts, survives and stops cleanly.

``idp serve`` calls :func:`run`. The process tree is:

    idp serve (supervisor)             gets Ctrl-C / SIGTERM, sends ONE SIGTERM on
      └ python -m idp.ops.server       Granian's main process, in its own session
          └ Granian workers            spawned (fresh interpreters), respawned if they die

Why not Granian's CLI as before: (1) it was found through PATH; (2) its workers
are forked from a main process whose Python signal handlers they inherit, so a
SIGTERM or SIGINT reaching a worker while it still loads the app is swallowed,
and the main process then waits for it forever (the orphan that kept the port);
(3) Ctrl-C signals the whole terminal process group, so workers stopped on their
own before the main process asked, which it took for crashes (and, with
respawning on, answered with new workers during shutdown). Here the workers are
*spawned*, so a signal during start-up simply ends them; only the supervisor sees
the terminal's signals and turns any number of them into one SIGTERM for
Granian's main process, which drains the workers (in-flight requests finish);
and whatever is left after a deadline is killed with its process group, so the
port is always freed.
"""

import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Granian waits this long for a worker to finish its requests before killing it.
WORKER_KILL_TIMEOUT = 10
# The supervisor's last resort after asking Granian to stop.
STOP_DEADLINE = WORKER_KILL_TIMEOUT + 5

log = logging.getLogger("idp.serve")


class PortTaken(Exception):
    pass


def check_port_free(host, port):
    """Raise PortTaken if something listens on ``host:port`` already. Granian binds
    with SO_REUSEPORT, so without this a second server would share the port."""
    for family, kind, proto, _name, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortTaken(f"{host}:{port} is already in use") from None
                raise


def prepare_metrics_dir(environ):
    """The folder where workers keep their metric values: the operator's
    ``PROMETHEUS_MULTIPROC_DIR`` emptied, or a fresh temporary one. Returns
    ``(path, created)``; a created one is removed when the server stops."""
    path = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):  # values of an earlier run would be added up
            if name.endswith(".db"):
                os.unlink(os.path.join(path, name))
        return path, False
    return tempfile.mkdtemp(prefix="idp-metrics-"), True


def run(target, host, port, workers, threads, log_format="text", echo=print):
    """Serve ``target`` ("module:app") until SIGINT or SIGTERM; returns the exit code."""
    check_port_free(host, port)
    env = dict(os.environ)
    metrics_dir, created = prepare_metrics_dir(env)
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    options = {"target": target, "host": host, "port": port, "workers": workers,
               "threads": threads, "log_format": log_format}
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen([sys.executable, "-m", "idp.ops.server", json.dumps(options)],
                                 env=env, start_new_session=True, preexec_fn=_die_with_parent)
        echo(f"Granian main process {child.pid}, {workers} worker(s)")
        return _supervise(child, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if created:
            shutil.rmtree(metrics_dir, ignore_errors=True)


class _StopRequest:
    """Signal handler: remembers the first stop request; later ones change nothing
    (Ctrl-C under ``make`` delivers SIGINT and then SIGTERM)."""

    def __init__(self):
        self.at = None

    def __call__(self, signum, _frame):
        if self.at is None:
            self.at = time.monotonic()


def _supervise(child, stop):
    asked = False
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if stop.at is not None and not asked:
            child.send_signal(signal.SIGTERM)
            asked = True
        if stop.at is not None and time.monotonic() - stop.at > STOP_DEADLINE:
            log.error("Granian did not stop within %s s; killing it", STOP_DEADLINE)
            _kill_group(child.pid)
    _kill_group(child.pid)  # workers left behind by a main process that died
    if stop.at is not None and code in (0, 1, -signal.SIGTERM):
        return 0  # asked to stop, and stopped (1: a worker ended before it was asked)
    return code if code >= 0 else 128 - code


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent():
    """Linux: Granian's main process gets SIGTERM if the supervisor dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _granian_log_config(log_format):
    """Granian's own lines in the same format as ours."""
    if log_format != "json":
        return None
    return {
        "formatters": {"json": {"()": "idp.ops.logs.JsonFormatter"}},
        "handlers": {"console": {"formatter": "json", "class": "logging.StreamHandler",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {"_granian": {"handlers": ["console"], "level": "INFO",
                                 "propagate": False}},
    }


def _granian_main(options):
    """Granian's main process: spawned workers, respawned when they die."""
    import multiprocessing

    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    multiprocessing.set_start_method("spawn", force=True)
    server = Granian(
        options["target"], address=options["host"], port=options["port"],
        interface=Interfaces.WSGI, workers=options["workers"],
        blocking_threads=options["threads"], websockets=False, log_level=LogLevels.info,
        log_dictconfig=_granian_log_config(options["log_format"]),
        respawn_failed_workers=True, workers_kill_timeout=WORKER_KILL_TIMEOUT)
    server.serve()


if __name__ == "__main__":
    _granian_main(json.loads(sys.argv[1]))
