"""``make bench``, second part: the IdP side by side with node-oidc-provider.

The peer is the certified OpenID Provider a user would otherwise choose:
``oidc-provider`` 9 from npm, installed here by npm into ``tests/bench/peer/``
(``package-lock.json`` pins it), configured in ``peer/server.mjs`` with one
confidential client (``client_secret_basic``), client credentials,
introspection, revocation, refresh tokens rotated on use (as ours are) and its
dev login pages, which the bench fills in; one process, in-memory storage.

The IdP runs as ``idp serve`` runs it (its default worker and thread counts),
once on the embedded defaults (SQLite, in-process store) and once on
PostgreSQL + Redis (a database and a Redis prefix of its own, dropped at the
end). Both listen on loopback; wrk (one thread, ``BENCH_CONCURRENCY``
connections, default 32) loads them alternately, IdP then peer, for
``BENCH_ROUNDS`` rounds of ``BENCH_PEER_SECONDS`` each per endpoint, so the
ratio of the two is measured under the same conditions. Requests that need
fresh material (codes, refresh tokens, tokens to revoke) get one item each;
when the items run out a run stops early and its real length counts.

Also reported: the resident memory of every IdP process and of the peer,
and Redis bytes per active login session (``MEMORY USAGE`` over every key
under the prefix, before and after ``BENCH_SESSIONS`` complete logins)."""

import base64
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.bench import run as base  # noqa: E402  (helpers shared with the first part)

PEER_DIR = os.path.join(HERE, "peer")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY_PEER", "32"))
SECONDS = float(os.environ.get("BENCH_PEER_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CODES = int(os.environ.get("BENCH_CODES", "4000"))  # per code-exchange run
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000"))
CONFIGS = os.environ.get("BENCH_CONFIGS", "embedded,postgres").split(",")
ONLY = [e for e in os.environ.get("BENCH_ENDPOINTS", "").split(",") if e]
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PEER_SECRET = "bench-peer-secret-0123456789abcdef"
# Another checkout of the IdP to measure instead of this one (before/after comparisons).
IDP_SOURCE = os.environ.get("BENCH_IDP_SOURCE")

ENDPOINTS = ("discovery", "jwks", "client_credentials", "code_exchange", "refresh",
             "userinfo", "introspection", "revocation")
# The targets: IdP/peer throughput in the same run, and p99 at 32 connections.
RATIO_TARGETS = {"discovery": 1.2, "jwks": 1.2}
RATIO_TARGET = 1.0
P99_TARGET_MS = 50


@dataclass
class Target:
    name: str
    base: str
    client_id: str
    secret: str
    pid: int
    meta: dict = field(default_factory=dict)
    browser: requests.Session = None
    access_token: str = None

    def basic(self):
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


# -- load ------------------------------------------------------------------------
def load(url, script=None, env=None):
    """One wrk run; the rate counts answers other than errors over the run's real
    length (shorter than asked when a sequence of items ran out)."""
    elapsed_file = tempfile.mktemp(prefix="bench-elapsed-")
    argv = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{SECONDS:g}s", "--latency", url]
    if script:
        argv[1:1] = ["-s", os.path.join(HERE, script)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env={
        **os.environ, "BENCH_DIR": HERE, "BENCH_ELAPSED": elapsed_file, **(env or {})}).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    seconds = float(re.search(r"requests in ([\d.]+)(m?s)", out).group(1))
    if re.search(r"requests in [\d.]+ms", out):
        seconds /= 1000
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    if os.path.exists(elapsed_file):  # the items ran out: the script's own count
        with open(elapsed_file) as fh:
            seconds, ok, failed = fh.read().split()
        os.unlink(elapsed_file)
        seconds, total, errors = float(seconds), int(ok) + int(failed), int(failed)
    return {"requests": total, "errors": errors, "seconds": seconds,
            "p50_ms": base._ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
            "p99_ms": base._ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))}


def combine(runs):
    """Rounds of one endpoint on one server: the rate over all of them, the mean
    p50 and the worst p99."""
    ok = sum(r["requests"] - r["errors"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return {"rps": round(ok / seconds, 1) if seconds else 0.0,
            "p50_ms": round(sum(r["p50_ms"] for r in runs) / len(runs), 2),
            "p99_ms": round(max(r["p99_ms"] for r in runs), 2),
            "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs)}


def write_lines(path, lines):
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [line for line in fh.read().splitlines() if line]


# -- logins and codes on either server ------------------------------------------------
def authorize_params(client_id):
    return base.authorize_params(client_id)


def peer_login(target):
    """Through the peer's dev interactions: its login page, then its consent page."""
    browser = requests.Session()
    response = browser.get(target.meta["authorization_endpoint"],
                           params=authorize_params(target.client_id), allow_redirects=False)
    for _ in range(12):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(base.REDIRECT):
                return browser, parse_qs(urlsplit(location).query)["code"][0]
            response = browser.get(location, allow_redirects=False)
            continue
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        prompt = re.search(r'name="prompt" value="(\w+)"', response.text)
        if not action or not prompt:
            raise SystemExit(f"peer login: unexpected page {response.status_code}")
        data = {"prompt": prompt.group(1)}
        if data["prompt"] == "login":
            data.update(login="bench@example.si", password="any")
        response = browser.post(urljoin(response.url, action.group(1)), data=data,
                                allow_redirects=False)
    raise SystemExit("peer login: too many steps")


def login(target):
    if target.name == "peer":
        return peer_login(target)
    return base.login_session(target.base, target.client_id)


def mint_codes(target, count):
    """Codes through the authorization endpoint with the logged-in browser's cookies."""
    cookies = target.browser.cookies.get_dict()
    url = target.meta["authorization_endpoint"]
    params = authorize_params(target.client_id)

    def one(_):
        with requests.Session() as http:
            http.cookies.update(cookies)
            codes = []
            for _ in range(count // 8 + 1):
                r = http.get(url, params=params, allow_redirects=False)
                query = parse_qs(urlsplit(r.headers.get("Location", "")).query)
                if "code" not in query:
                    raise SystemExit(f"{target.name}: no code from {url}: {r.status_code} "
                                     f"{r.headers.get('Location')}")
                codes.append(query["code"][0])
            return codes

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return [code for chunk in pool.map(one, range(8)) for code in chunk][:count]


def exchange(target, code):
    return requests.post(target.meta["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": base.REDIRECT,
        "code_verifier": base.VERIFIER}, auth=(target.client_id, target.secret)).json()


# -- the endpoints: each run gets what it needs, then wrk ----------------------------
CODE_BODY = f"grant_type=authorization_code&redirect_uri={base.REDIRECT}" \
            f"&code_verifier={base.VERIFIER}"


def run_endpoint(name, target, round_no, work):
    meta = target.meta
    tag = os.path.join(work, f"{target.name}-{round_no}")
    if name == "discovery":
        return load(target.base + "/.well-known/openid-configuration")
    if name == "jwks":
        return load(meta["jwks_uri"])
    if name == "client_credentials":
        return load(meta["token_endpoint"], "capture.lua", {
            "BENCH_BODY": "grant_type=client_credentials", "BENCH_AUTH": target.basic(),
            "BENCH_CAPTURE": "access_token", "BENCH_CAPTURE_FILE": tag + ".cc-tokens"})
    if name == "code_exchange":
        write_lines(tag + ".codes", mint_codes(target, CODES))
        time.sleep(0.5)
        return load(meta["token_endpoint"], "sequence.lua", {
            "BENCH_ITEMS": tag + ".codes", "BENCH_PARAM": "code", "BENCH_BODY": CODE_BODY,
            "BENCH_AUTH": target.basic(), "BENCH_CAPTURE": "refresh_token",
            "BENCH_CAPTURE_FILE": tag + ".refresh-tokens"})
    if name == "refresh":
        items = tag + ".refresh-tokens"
        if not read_lines(items):  # no code-exchange run before: a few fresh ones
            write_lines(items, [exchange(target, c)["refresh_token"]
                                for c in mint_codes(target, CONCURRENCY * 2)])
        return load(meta["token_endpoint"], "sequence.lua", {
            "BENCH_ITEMS": items, "BENCH_PARAM": "refresh_token",
            "BENCH_BODY": "grant_type=refresh_token", "BENCH_AUTH": target.basic(),
            "BENCH_CAPTURE": "refresh_token", "BENCH_CHAIN": "1",
            "BENCH_CAPTURE_FILE": tag + ".refreshed"})
    if name == "userinfo":
        return load(meta["userinfo_endpoint"], "header.lua",
                    {"BENCH_AUTH": "Bearer " + target.access_token})
    if name == "introspection":
        return load(meta["introspection_endpoint"], "post.lua", {
            "BENCH_BODY": "token=" + target.access_token, "BENCH_AUTH": target.basic()})
    if name == "revocation":
        items = tag + ".cc-tokens"
        if not read_lines(items):  # no client-credentials run before
            write_lines(items, [requests.post(meta["token_endpoint"], data={
                "grant_type": "client_credentials"}, auth=(target.client_id, target.secret)
            ).json()["access_token"] for _ in range(500)])
        return load(meta["revocation_endpoint"], "sequence.lua", {
            "BENCH_ITEMS": items, "BENCH_PARAM": "token",
            "BENCH_BODY": "token_type_hint=access_token", "BENCH_AUTH": target.basic()})
    raise ValueError(name)


def prepare(target):
    """Discovery, a login, and an access token for userinfo and introspection."""
    target.meta = requests.get(target.base + "/.well-known/openid-configuration").json()
    target.browser, code = login(target)
    target.access_token = exchange(target, code)["access_token"]


def side_by_side(idp, peer, work):
    """Every endpoint, rounds of IdP then peer; returns rows per endpoint."""
    for target in (idp, peer):
        prepare(target)
    rows = {}
    for name in ENDPOINTS:
        if ONLY and name not in ONLY:
            continue
        runs = {"idp": [], "peer": []}
        for round_no in range(ROUNDS):
            for key, target in (("idp", idp), ("peer", peer)):
                runs[key].append(run_endpoint(name, target, round_no, work))
        row = {key: combine(value) for key, value in runs.items()}
        row["ratio"] = round(row["idp"]["rps"] / row["peer"]["rps"], 3) \
            if row["peer"]["rps"] else None
        row["ratio_target"] = RATIO_TARGETS.get(name, RATIO_TARGET)
        row["met"] = bool(row["ratio"] and row["ratio"] >= row["ratio_target"]
                          and row["idp"]["p99_ms"] < P99_TARGET_MS)
        rows[name] = row
        print(f"  {name}: IdP {row['idp']['rps']}/s, peer {row['peer']['rps']}/s, "
              f"ratio {row['ratio']}", flush=True)
    return rows


# -- servers ----------------------------------------------------------------------------
def _parents():
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def descendants(pid):
    """``pid`` and every process below it."""
    children = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def command_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        return "?"


def memory_of(pid):
    """Resident memory of a server's processes; the workers are those with no child
    (multiprocessing's resource tracker aside)."""
    pids = descendants(pid)
    parents = set(_parents().get(p) for p in pids)
    rows = [{"pid": p, "rss_mb": rss_mb(p), "command": command_of(p)} for p in pids]
    workers = [r["rss_mb"] for r in rows if r["pid"] not in parents and r["rss_mb"]
               and "resource_tracker" not in r["command"]]
    return {"processes": rows, "worker_rss_mb": workers,
            "total_rss_mb": round(sum(r["rss_mb"] or 0 for r in rows), 1)}


def stop(pid):
    everything = descendants(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in everything):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    for p in everything:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_peer(work):
    if not shutil.which("node") or not shutil.which("npm"):
        raise SystemExit("make bench needs node and npm for the peer (node-oidc-provider)")
    if not os.path.isdir(os.path.join(PEER_DIR, "node_modules", "oidc-provider")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=PEER_DIR,
                       check=True)
    port = base.free_port()
    log = open(os.path.join(work, "peer.log"), "w")
    proc = subprocess.Popen(["node", "server.mjs"], cwd=PEER_DIR, stdout=log, stderr=log,
                            start_new_session=True, env={
                                **os.environ, "PORT": str(port), "NODE_ENV": "production",
                                "BENCH_CLIENT_SECRET": PEER_SECRET,
                                "BENCH_REDIRECT": base.REDIRECT})
    url = f"http://127.0.0.1:{port}"
    base.wait_up(url + "/.well-known/openid-configuration")
    return Target("peer", url, "bench", PEER_SECRET, proc.pid)


def create_database(name):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_idp(config, work):
    folder = os.path.join(work, config)
    os.makedirs(folder)
    port = base.free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDP_ISSUER": issuer, "IDP_INSTANCE_PATH": folder,
           "IDP_KEYS_DIR": folder + "/keys", "IDP_RATELIMIT_ENABLED": "false",
           "IDP_CODE_TTL": "900", "IDP_LOG_LEVEL": "WARNING",
           "PATH": base.BIN + os.pathsep + os.environ["PATH"]}
    if IDP_SOURCE:
        env["PYTHONPATH"] = IDP_SOURCE
    for name in ("IDP_REDIS_URL", "IDP_DATABASE_URL", "IDP_REDIS_PREFIX"):
        env.pop(name, None)
    if config == "postgres":
        database = f"idp_bench_{os.getpid()}"
        create_database(database)
        env.update(IDP_DATABASE_URL=PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database,
                   IDP_REDIS_URL=REDIS_URL, IDP_REDIS_PREFIX=f"idp-bench-{os.getpid()}:")
    else:
        env["IDP_DATABASE_URL"] = f"sqlite:///{folder}/idp.sqlite3"
    base.idp_cli(env, "init")
    base.idp_cli(env, "users", "create", "--email", "bench@example.si",
                 "--password", base.PASSWORD)
    client = json.loads(base.idp_cli(
        env, "clients", "create", "--name", "Bench RP", "--first-party",
        "--redirect-uri", base.REDIRECT, "--id-token-alg", "ES256",
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--grant-type", "client_credentials", "--json"))
    log = open(os.path.join(folder, "serve.log"), "w")
    # As an operator starts it: default workers (one per core with Redis) and threads.
    proc = subprocess.Popen([os.path.join(base.BIN, "idp"), "serve", "--port", str(port)],
                            env=env, cwd=IDP_SOURCE or ROOT, stdout=log, stderr=log)
    base.wait_up(issuer + "/jwks.json", timeout=60)
    target = Target("idp", issuer, client["client_id"], client["client_secret"], proc.pid)
    return target, env


# -- Redis bytes per login session --------------------------------------------------------
def redis_bytes(prefix):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    total = keys = 0
    for key in client.scan_iter(prefix + "*", count=1000):
        total += client.memory_usage(key, samples=0) or 0
        keys += 1
    return total, keys


def redis_cleanup(prefix):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    batch = list(client.scan_iter(prefix + "*", count=1000))
    for i in range(0, len(batch), 500):
        client.delete(*batch[i:i + 500])


def complete_logins(target, count):
    """Complete logins through the pages, each in a new browser: authorize, password,
    code exchange, userinfo (what an active login session leaves in Redis)."""
    def one(_):
        browser, code = base.login_session(target.base, target.client_id)
        tokens = exchange(target, code)
        assert requests.get(target.base + "/userinfo", headers={
            "Authorization": "Bearer " + tokens["access_token"]}).status_code == 200

    with concurrent.futures.ThreadPoolExecutor(base.LOGIN_CLIENTS) as pool:
        list(pool.map(one, range(count)))


def session_memory(idp, env):
    prefix = env["IDP_REDIS_PREFIX"]
    before, keys_before = redis_bytes(prefix)
    started = time.time()
    complete_logins(idp, SESSIONS)
    seconds = time.time() - started
    after, keys_after = redis_bytes(prefix)
    return {"sessions": SESSIONS, "bytes_before": before, "bytes_after": after,
            "keys_added": keys_after - keys_before,
            "bytes_per_session": round((after - before) / SESSIONS, 1),
            "logins_per_s": round(SESSIONS / seconds, 2)}


# -- one configuration, and the whole run ----------------------------------------------------
def run_config(config, work):
    idp, env = start_idp(config, work)
    peer = start_peer(work)
    result = {"idp_workers": "default of idp serve"}
    try:
        print(f"\n[{config}] IdP {idp.base}, peer {peer.base}", flush=True)
        folder = os.path.join(work, config, "load")
        os.makedirs(folder)
        result["endpoints"] = side_by_side(idp, peer, folder)
        result["memory"] = {"idp": memory_of(idp.pid), "peer": memory_of(peer.pid)}
        if config == "postgres" and SESSIONS:
            result["redis_per_login_session"] = session_memory(idp, env)
    finally:
        stop(idp.pid)
        stop(peer.pid)
        if config == "postgres":
            redis_cleanup(env["IDP_REDIS_PREFIX"])
            drop_database(env["IDP_DATABASE_URL"].rsplit("/", 1)[1])
    return result


def report(results):
    print(f"\nIdP vs node-oidc-provider 9 (one process), wrk 1 thread, {CONCURRENCY} "
          f"connections, {ROUNDS} alternating rounds of {SECONDS:g}s per endpoint; "
          f"rate over all rounds, p50 the mean, p99 the worst.")
    for config, result in results.items():
        label = {"embedded": "embedded defaults (SQLite, in-process store)",
                 "postgres": "PostgreSQL + Redis"}.get(config, config)
        print(f"\n== {label} ==")
        print(f"{'endpoint':19} {'IdP r/s':>9} {'p50':>6} {'p99':>7} {'err':>5} | "
              f"{'peer r/s':>9} {'p50':>6} {'p99':>7} {'err':>5} | {'ratio':>6} {'goal':>5}")
        for name, row in result["endpoints"].items():
            a, b = row["idp"], row["peer"]
            print(f"{name:19} {a['rps']:9.1f} {a['p50_ms']:6.2f} {a['p99_ms']:7.2f} "
                  f"{a['errors']:5d} | {b['rps']:9.1f} {b['p50_ms']:6.2f} {b['p99_ms']:7.2f} "
                  f"{b['errors']:5d} | {row['ratio'] or 0:6.2f} {row['ratio_target']:5.1f} "
                  f"{'ok' if row['met'] else 'BELOW'}")
        memory = result["memory"]
        print(f"resident memory: IdP workers {memory['idp']['worker_rss_mb']} MB "
              f"(all processes {memory['idp']['total_rss_mb']} MB); peer "
              f"{memory['peer']['total_rss_mb']} MB")
        redis_row = result.get("redis_per_login_session")
        if redis_row:
            print(f"Redis per active login session: {redis_row['bytes_per_session']} bytes "
                  f"over {redis_row['sessions']} logins ({redis_row['keys_added']} keys added; "
                  f"goal at most 1024)")


def main():
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install wrk")
    work = tempfile.mkdtemp(prefix="idp-bench-peer-")
    results = {}
    try:
        for config in CONFIGS:
            results[config] = run_config(config, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)
    path = os.path.join(ROOT, "bench-results", "latest.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path) as fh:
            merged = json.load(fh)
    except (OSError, ValueError):
        merged = {}
    merged["side_by_side"] = {"concurrency": CONCURRENCY, "seconds": SECONDS,
                              "rounds": ROUNDS, **results}
    with open(path, "w") as fh:
        json.dump(merged, fh, indent=2)


if __name__ == "__main__":
    main()
