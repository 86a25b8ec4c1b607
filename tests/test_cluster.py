"""The IdP as a cluster: two ``idp serve`` processes as two machines (each its
own instance folder and key folder), sharing one PostgreSQL database and one
Redis prefix, behind a small round-robin proxy. A person logs in through the
proxy while the requests alternate between the nodes; the tokens hold on both;
a key rotation and a new client reach both within IDP_CACHE_SECONDS; one node
stops in the middle of the traffic and the other keeps answering."""

import http.client
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urljoin, urlsplit

import psycopg
import pytest
import redis
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from conftest import PG_ADMIN_URL, REDIS_URL
from helpers import pkce_pair
from sinks import free_port

IDP = os.path.join(os.path.dirname(sys.executable), "idp")
PASSWORD = "Zelenjava-Kolo-48"
CACHE_SECONDS = 1
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length", "date", "server"}


class RoundRobinProxy:
    """A load balancer for the test: each request goes to the next node; a node
    that refuses the connection is skipped (nothing was sent to it), and so is one
    that fails an idempotent GET."""

    def __init__(self, backends):
        self.backends = backends  # [(name, port)]
        self.turn = itertools.count()
        self.served = []  # (method, path, node, status)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                proxy.forward(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        start = next(self.turn)
        for i in range(len(self.backends)):
            name, port = self.backends[(start + i) % len(self.backends)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            try:
                conn.request(handler.command, handler.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
            except ConnectionRefusedError:
                continue
            except (OSError, http.client.HTTPException):
                if handler.command == "GET":
                    continue
                break
            finally:
                conn.close()
            self.served.append((handler.command, handler.path.split("?")[0], name, reply.status))
            handler.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        handler.send_error(502)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Node:
    """One machine: its own instance and key folders, the shared database and Redis."""

    def __init__(self, name, root, shared):
        self.name = name
        self.folder = os.path.join(root, name)
        os.makedirs(os.path.join(self.folder, "instance"))
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        self.env.update(shared, IDP_INSTANCE_PATH=os.path.join(self.folder, "instance"),
                        IDP_KEYS_DIR=os.path.join(self.folder, "keys"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def idp(self, *args):
        done = subprocess.run([IDP, *args], env=self.env, cwd=self.folder, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def serve(self, workers):
        self.log = open(os.path.join(self.folder, "serve.log"), "w")
        self.process = subprocess.Popen(
            [IDP, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=self.env, cwd=self.folder, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process.poll() is None, self.log_text()
            try:
                if requests.get(self.url + "/jwks.json", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"node {self.name} did not start:\n{self.log_text()}")

    def jwks(self):
        return requests.get(self.url + "/jwks.json", timeout=5).json()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self):
        with open(os.path.join(self.folder, "serve.log")) as fh:
            return fh.read()[-4000:]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tag = secrets.token_hex(4)
    database = f"idp_cluster_{tag}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    proxy = RoundRobinProxy([])
    shared = {
        "IDP_ISSUER": proxy.url,  # the nodes are reached through the proxy only
        "IDP_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database,
        "IDP_REDIS_URL": REDIS_URL, "IDP_REDIS_PREFIX": f"idpcluster:{tag}:",
        "IDP_SECRET_KEY": secrets.token_urlsafe(32),
        "IDP_KEY_ENCRYPTION_KEYS": json.dumps([secrets.token_urlsafe(32)]),
        "IDP_CACHE_SECONDS": str(CACHE_SECONDS),
    }
    root = str(tmp_path_factory.mktemp("cluster"))
    a, b = Node("node-a", root, shared), Node("node-b", root, shared)
    try:
        a.idp("init")
        a.serve(workers=2)
        a.wait_ready()
        b.serve(workers=1)
        b.wait_ready()
        proxy.backends = [(a.name, a.port), (b.name, b.port)]
        yield proxy, a, b
    finally:
        for node in (a, b):
            node.stop()
        proxy.stop()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{tag}*"):
            client.delete(key)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _log_in(proxy, client, browser):
    """/authorize → the login page (its CSRF token) → the code → /token, through the proxy."""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    redirect_uri = client["redirect_uris"][0]
    reply = browser.get(proxy.url + "/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect_uri,
        "scope": "openid profile email", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    for _ in range(8):
        assert reply.status_code in (200, 302), reply.text[:500]
        if reply.status_code == 200:  # the login page
            html = reply.text
            csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
            interaction = re.search(r'name="interaction"[^>]*value="([^"]*)"', html).group(1)
            reply = browser.post(proxy.url + "/login", allow_redirects=False, data={
                "csrf_token": csrf, "email": "ana@example.si", "password": PASSWORD,
                "interaction": interaction})
            continue
        location = urljoin(proxy.url, reply.headers["Location"])
        if location.startswith(redirect_uri):
            break
        reply = browser.get(location, allow_redirects=False)
    else:
        raise AssertionError("no way back to the client")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == state and "code" in query, query
    token = requests.post(proxy.url + "/token", auth=(client["client_id"], client["client_secret"]),
                          data={"grant_type": "authorization_code", "code": query["code"],
                                "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    return {**token.json(), "nonce": nonce}


def test_a_cluster_of_two_nodes_behind_a_round_robin_proxy(cluster):
    proxy, a, b = cluster
    a.idp("users", "create", "--email", "ana@example.si", "--phone", "041 123 123",
          "--given-name", "Ana", "--family-name", "Novak", "--password", PASSWORD)
    client = json.loads(b.idp("clients", "create", "--name", "E-banka", "--first-party",
                              "--redirect-uri", "http://127.0.0.1:9/cb", "--json"))

    # One login through the proxy, its steps spread over both nodes.
    browser = requests.Session()
    start = len(proxy.served)
    tokens = _log_in(proxy, client, browser)
    login_steps = proxy.served[start:]
    assert {node for _, _, node, _ in login_steps} == {"node-a", "node-b"}, login_steps
    assert all(status in (200, 302) for *_, status in login_steps), login_steps

    # Both nodes publish the same keys; the ID token verifies against either.
    assert a.jwks() == b.jwks()
    for node in (a, b):
        claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(node.jwks()),
                            algorithms=["RS256"]).claims
        assert (claims["iss"], claims["aud"], claims["nonce"]) == (proxy.url, client["client_id"],
                                                                   tokens["nonce"])
    # The access token, issued by one node, works at the other's userinfo (directly).
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    answers = [requests.get(node.url + "/userinfo", headers=bearer) for node in (a, b)]
    assert [r.status_code for r in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["sub"] == claims["sub"]

    # A key rotation on one node reaches both within IDP_CACHE_SECONDS.
    old_kid = jwt.decode(tokens["id_token"], KeySet.import_key_set(a.jwks()),
                         algorithms=["RS256"]).header["kid"]
    # Each node's JWKS is read all along (so their checks are as late as they get):
    # when does each node, every worker included, publish the new key?
    seen, polling = {a.name: [], b.name: []}, threading.Event()

    def poll(node):
        with requests.Session() as http:
            while not polling.is_set():
                kids = {k["kid"] for k in http.get(node.url + "/jwks.json").json()["keys"]}
                seen[node.name].append((time.monotonic(), kids))
                time.sleep(0.005)

    def watch_database(commits):
        # The moment of the commit, as the database shows it (the command's exit is later).
        with psycopg.connect(a.env["IDP_DATABASE_URL"], autocommit=True) as conn:
            count = "SELECT count(*) FROM signing_keys"
            before = conn.execute(count).fetchone()[0]
            while conn.execute(count).fetchone()[0] == before:
                time.sleep(0.002)
            commits.append(time.monotonic())

    commits = []
    pollers = [threading.Thread(target=poll, args=(node,)) for node in (a, b)]
    pollers.append(threading.Thread(target=watch_database, args=(commits,)))
    for poller in pollers:
        poller.start()
    rotated = json.loads(b.idp("keys", "rotate", "--json"))
    new_kid = next(k["kid"] for k in rotated["added"] if k["alg"] == "RS256")
    pollers.pop().join(timeout=10)
    committed = commits[0]
    time.sleep(max(0.0, committed + CACHE_SECONDS + 0.5 - time.monotonic()))
    polling.set()
    for poller in pollers:
        poller.join()
    reached = {}
    for name, samples in seen.items():
        first = min(t for t, kids in samples if new_kid in kids) - committed
        last_old = max((t for t, kids in samples if new_kid not in kids), default=committed)
        reached[name] = (round(first, 3), round(last_old - committed, 3))
        assert last_old - committed <= CACHE_SECONDS + 0.2, (name, reached)
        assert all(new_kid in kids for t, kids in samples if t > committed + CACHE_SECONDS + 0.2)
    print(f"\nkey rotation (IDP_CACHE_SECONDS={CACHE_SECONDS}) seen by each node after "
          f"(first answer with the new key, last answer without it), s: {reached}")
    again = _log_in(proxy, client, browser)  # still logged in: no login page this time
    header = jwt.decode(again["id_token"], KeySet.import_key_set(a.jwks()),
                        algorithms=["RS256"]).header
    assert header["kid"] == new_kid
    for node in (a, b):  # the old key stays published for the tokens it signed
        assert {old_kid, new_kid} <= {k["kid"] for k in node.jwks()["keys"]}

    # A client created on one node works on both at once.
    service = json.loads(a.idp("clients", "create", "--name", "Davki", "--grant-type",
                               "client_credentials", "--json"))
    for node in (a, b):
        grant = requests.post(node.url + "/token", data={"grant_type": "client_credentials"},
                              auth=(service["client_id"], service["client_secret"]))
        assert grant.status_code == 200, (node.name, grant.text)

    # One node stops in the middle of the traffic; the other keeps answering.
    statuses, stop_traffic = [], threading.Event()

    def traffic():
        with requests.Session() as http:
            while not stop_traffic.is_set():
                reply = http.get(proxy.url + "/userinfo", headers=bearer, timeout=10)
                statuses.append((time.monotonic(), reply.status_code))

    worker = threading.Thread(target=traffic)
    worker.start()
    time.sleep(1.0)
    stopping = time.monotonic()
    a.stop()
    stopped = time.monotonic()
    time.sleep(1.5)
    stop_traffic.set()
    worker.join(timeout=20)
    print(f"node-a stopped {stopped - stopping:.2f} s after SIGTERM, under load; "
          f"{len(statuses)} userinfo requests through the proxy meanwhile")
    assert a.process.returncode == 0, a.log_text()
    assert len([t for t, _ in statuses if t > stopped]) > 5
    assert {status for _, status in statuses} == {200}, statuses
    tail = proxy.served[-5:]
    assert {node for _, _, node, _ in tail} == {"node-b"}, tail
    # The survivor still logs people in.
    fresh = _log_in(proxy, client, requests.Session())
    assert requests.get(b.url + "/userinfo", headers={
        "Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200
