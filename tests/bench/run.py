"""``make bench``: throughput of the IdP's hot endpoints, as ratios to a baseline.

The IdP runs as ``idp serve`` runs it (Granian, WSGI, one worker process) on the
embedded defaults, on loopback; the baseline is a bare Flask JSON endpoint in
the same server setup, measured in the same run, so the ratio says how much of
the framework's ceiling each endpoint reaches. Load comes from wrk (C, one
thread, so the server keeps the other core). Full password logins are driven
by Python clients and compared with the argon2id hashes per second measured
here too. Results are printed and written to bench-results/latest.json.
"""

import base64
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
DURATION = int(os.environ.get("BENCH_SECONDS", "8"))
THREADS = int(os.environ.get("BENCH_SERVER_THREADS", "4"))
LOGIN_CLIENTS = int(os.environ.get("BENCH_LOGIN_CLIENTS", "4"))
PASSWORD = "Bench-Geslo-1"
REDIRECT = "http://127.0.0.1:9/cb"
VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(
    __import__("hashlib").sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()

TARGETS = {  # minimum ratio to the baseline, per worker process (the goals)
    "client_credentials": 0.7, "introspection": 0.7, "userinfo": 0.8, "jwks": 0.8,
    "code_exchange_es256": 0.5,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def start(argv, env, cwd):
    return subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wrk(url, script=None, env=None):
    argv = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{DURATION}s", "--latency", url]
    if script:
        argv[1:1] = ["-s", os.path.join(HERE, script)]
    out = subprocess.run(argv, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    seconds = float(re.search(r"requests in ([\d.]+)s", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    return {"rps": round((total - errors) / seconds, 1), "p50_ms": p50, "p99_ms": p99,
            "errors": errors}


def _ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 3)


def idp_cli(env, *args):
    out = subprocess.run([os.path.join(BIN, "idp"), *args], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return out.stdout


def login_session(issuer, client_id):
    """Log in once through the real pages; returns the browser session."""
    browser = requests.Session()
    page = browser.get(issuer + "/authorize", params=authorize_params(client_id))
    form = dict(re.findall(r'name="(csrf_token|interaction)"[^>]*value="([^"]*)"', page.text))
    response = browser.post(issuer + "/login", data={**form, "email": "bench@example.si",
                                                     "password": PASSWORD},
                            allow_redirects=False)
    if "Location" not in response.headers:
        raise SystemExit(f"login failed: {page.status_code} {response.status_code}")
    location = response.headers["Location"]
    while not location.startswith(REDIRECT):
        location = browser.get(issuer + location, allow_redirects=False).headers["Location"]
    return browser, parse_qs(urlsplit(location).query)["code"][0]


def authorize_params(client_id):
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
            "scope": "openid profile email", "code_challenge": CHALLENGE,
            "code_challenge_method": "S256", "state": "s"}


def mint_codes(issuer, browser, client_id, count):
    """Authorization codes for the exchange benchmark (a session skips the login page)."""
    cookies = browser.cookies.get_dict()

    def one(_):
        r = requests.get(issuer + "/authorize", params=authorize_params(client_id),
                         cookies=cookies, allow_redirects=False)
        return parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def full_logins(issuer, client_id, secret, seconds):
    """Complete logins: authorize, login page, password POST, code exchange, userinfo."""
    deadline = time.time() + seconds

    def worker(_):
        done = 0
        while time.time() < deadline:
            browser, code = login_session(issuer, client_id)
            token = requests.post(issuer + "/token", data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "code_verifier": VERIFIER}, auth=(client_id, secret)).json()
            info = requests.get(issuer + "/userinfo", headers={
                "Authorization": "Bearer " + token["access_token"]})
            assert info.status_code == 200
            done += 1
        return done

    start_time = time.time()
    with concurrent.futures.ThreadPoolExecutor(LOGIN_CLIENTS) as pool:
        total = sum(pool.map(worker, range(LOGIN_CLIENTS)))
    return round(total / (time.time() - start_time), 2)


def argon2_rate(seconds=3):
    from idp.accounts.passwords import hasher

    count, start_time = 0, time.time()
    while time.time() - start_time < seconds:
        hasher.hash(PASSWORD)
        count += 1
    return round(count / (time.time() - start_time), 2)


def main():
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install wrk")
    work = tempfile.mkdtemp(prefix="idp-bench-")
    port, base_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDP_ISSUER": issuer, "IDP_INSTANCE_PATH": work,
           "IDP_DATABASE_URL": f"sqlite:///{work}/idp.sqlite3", "IDP_KEYS_DIR": work + "/keys",
           "IDP_RATELIMIT_ENABLED": "false", "IDP_CODE_TTL": "900", "IDP_LOG_LEVEL": "WARNING",
           "PATH": BIN + os.pathsep + os.environ["PATH"]}
    idp_cli(env, "init")
    idp_cli(env, "users", "create", "--email", "bench@example.si", "--password", PASSWORD)
    rp = json.loads(idp_cli(env, "clients", "create", "--name", "Bench RP", "--first-party",
                            "--redirect-uri", REDIRECT, "--id-token-alg", "ES256", "--json"))
    rp_rs = json.loads(idp_cli(env, "clients", "create", "--name", "Bench RP RS256",
                               "--first-party", "--redirect-uri", REDIRECT, "--json"))
    machine = json.loads(idp_cli(env, "clients", "create", "--name", "Bench machine",
                                 "--grant-type", "client_credentials", "--scope", "profile",
                                 "--json"))

    servers = [
        start([os.path.join(BIN, "idp"), "serve", "--port", str(port), "--workers", "1",
               "--threads", str(THREADS)], env, ROOT),
        start([os.path.join(BIN, "granian"), "--interface", "wsgi", "--port", str(base_port),
               "--workers", "1", "--blocking-threads", str(THREADS), "--no-ws",
               "--log-level", "warning", "tests.bench.baseline:app"], env, ROOT),
    ]
    try:
        wait_up(issuer + "/jwks.json")
        wait_up(f"http://127.0.0.1:{base_port}/json")
        results = run_all(issuer, base_port, rp, rp_rs, machine, work)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def run_all(issuer, base_port, rp, rp_rs, machine, work):
    def basic(client):
        raw = f"{client['client_id']}:{client['client_secret']}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    r = {}
    r["baseline"] = wrk(f"http://127.0.0.1:{base_port}/json")
    r["discovery"] = wrk(issuer + "/.well-known/openid-configuration")
    r["jwks"] = wrk(issuer + "/jwks.json")
    r["client_credentials"] = wrk(issuer + "/token", "post.lua", {
        "BENCH_BODY": "grant_type=client_credentials", "BENCH_AUTH": basic(machine)})

    browser, code = login_session(issuer, rp["client_id"])
    tokens = requests.post(issuer + "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER}, auth=(rp["client_id"], rp["client_secret"])).json()
    r["userinfo"] = wrk(issuer + "/userinfo", "header.lua",
                        {"BENCH_AUTH": "Bearer " + tokens["access_token"]})
    r["introspection"] = wrk(issuer + "/introspect", "post.lua", {
        "BENCH_BODY": "token=" + tokens["access_token"], "BENCH_AUTH": basic(rp)})

    # DPoP (RFC 9449): the same two requests with a fresh proof each (made here
    # beforehand: wrk cannot sign), next to their Bearer counterparts.
    key = ECKey.generate_key("P-256", private=True)
    nonce = _dpop_nonce(issuer, key)
    code = mint_codes(issuer, browser, rp["client_id"], 1)[0]
    bound = requests.post(issuer + "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER}, auth=(rp["client_id"], rp["client_secret"]),
        headers={"DPoP": dpop_proof(key, "POST", issuer + "/token", nonce=nonce)}).json()
    count = int(r["userinfo"]["rps"] * DURATION * 1.2) + 500
    path = os.path.join(work, "userinfo.proofs")
    with open(path, "w") as fh:
        fh.write("\n".join(dpop_proof(key, "GET", issuer + "/userinfo", bound["access_token"],
                                      nonce) for _ in range(count)))
    r["userinfo_dpop"] = wrk(issuer + "/userinfo", "dpop.lua", {
        "BENCH_LINES": path, "BENCH_AUTH": "DPoP " + bound["access_token"]})

    for name, client in (("code_exchange_es256", rp), ("code_exchange_rs256", rp_rs),
                         ("code_exchange_es256_dpop", rp)):
        codes = mint_codes(issuer, browser, client["client_id"],
                           int(r["baseline"]["rps"] * DURATION * 0.8) + 500)
        path = os.path.join(work, name + ".codes")
        body = f"grant_type=authorization_code&redirect_uri={REDIRECT}&code_verifier={VERIFIER}"
        if name.endswith("_dpop"):
            with open(path, "w") as fh:
                fh.write("\n".join(code + "\t" + dpop_proof(key, "POST", issuer + "/token",
                                                             nonce=nonce) for code in codes))
            r[name] = wrk(issuer + "/token", "dpop.lua", {
                "BENCH_LINES": path, "BENCH_AUTH": basic(client), "BENCH_BODY": body})
        else:
            with open(path, "w") as fh:
                fh.write("\n".join(codes))
            r[name] = wrk(issuer + "/token", "codes.lua", {
                "BENCH_CODES": path, "BENCH_AUTH": basic(client), "BENCH_BODY": body})
        r[name]["codes_minted"] = len(codes)

    r["argon2id_hashes_per_s"] = argon2_rate()
    r["full_logins_per_s"] = full_logins(issuer, rp["client_id"], rp["client_secret"],
                                         DURATION * 2)
    return r


def dpop_proof(key, method, url, access_token=None, nonce=None):
    claims = {"jti": base64.urlsafe_b64encode(os.urandom(12)).decode(), "htm": method,
              "htu": url, "iat": int(time.time())}
    if access_token:
        claims["ath"] = base64.urlsafe_b64encode(__import__("hashlib").sha256(
            access_token.encode()).digest()).rstrip(b"=").decode()
    if nonce:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def _dpop_nonce(issuer, key):
    """The server's current DPoP nonce (the first proof is answered use_dpop_nonce)."""
    answer = requests.post(issuer + "/token", data={"grant_type": "client_credentials"},
                           headers={"DPoP": dpop_proof(key, "POST", issuer + "/token")})
    return answer.headers.get("DPoP-Nonce")


def report(r):
    base = r["baseline"]["rps"]
    print(f"\nConcurrency {CONCURRENCY}, {DURATION}s per endpoint, one worker process "
          f"({THREADS} blocking threads), SQLite + in-process store, loopback.\n")
    print(f"{'endpoint':24} {'req/s':>9} {'ratio':>7} {'target':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in r.items():
        if not isinstance(row, dict):
            continue
        row["ratio"] = round(row["rps"] / base, 3)
        target = TARGETS.get(name)
        mark = "" if target is None else ("ok" if row["ratio"] >= target else "BELOW")
        print(f"{name:24} {row['rps']:9.1f} {row['ratio']:7.3f} "
              f"{(target or 0):7.2f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {mark}")
    for dpop, bearer in (("userinfo_dpop", "userinfo"),
                         ("code_exchange_es256_dpop", "code_exchange_es256")):
        if dpop in r and bearer in r:
            cost = r[dpop]["rps"] / r[bearer]["rps"]
            r[dpop]["ratio_to_bearer"] = round(cost, 3)
            print(f"{dpop}: {cost:.2f} of {bearer}'s throughput (DPoP adds one proof "
                  f"verification and one replay-store write)")
    ratio = r["full_logins_per_s"] / r["argon2id_hashes_per_s"]
    r["full_logins_ratio_to_argon2"] = round(ratio, 3)
    print(f"\nfull password logins: {r['full_logins_per_s']}/s; argon2id hashes "
          f"(one thread, this process): {r['argon2id_hashes_per_s']}/s; ratio {ratio:.2f} "
          f"(target 0.85)")
    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench-results", "latest.json"), "w") as fh:
        json.dump(r, fh, indent=2)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
