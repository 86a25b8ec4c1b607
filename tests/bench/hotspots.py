"""Where each endpoint's time goes, measured in one process without a server:
the IdP's WSGI app is called directly with prepared requests (the same ones
``sidebyside.py`` sends), first timed (microseconds per request, the median
of a few batches), then under cProfile, whose hottest functions are printed.
The CPU a request costs here is what bounds a worker's throughput; the server
and the network add the same to every endpoint.

    BENCH_CONFIGS=embedded BENCH_ENDPOINTS=jwks,userinfo python tests/bench/hotspots.py

``PROFILE_REQUESTS`` requests per endpoint (default 2000), ``PROFILE_TOP`` rows."""

import base64
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from urllib.parse import parse_qs, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from tests.bench import run as base  # noqa: E402
from tests.bench import sidebyside as bench  # noqa: E402

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "2000"))
TOP = int(os.environ.get("PROFILE_TOP", "18"))


class Harness:
    """The app called as a WSGI server would, cookies kept like a browser's."""

    def __init__(self, app, issuer):
        self.app = app
        self.issuer = issuer
        self.client = app.test_client()

    def environ(self, method, path, headers=None, form=None, query=None):
        from werkzeug.test import EnvironBuilder

        builder = EnvironBuilder(path=path, base_url=self.issuer, method=method,
                                 headers=headers or {}, query_string=query,
                                 data=urlencode(form) if form is not None else None,
                                 content_type="application/x-www-form-urlencoded"
                                 if form is not None else None)
        try:
            return builder.get_environ()
        finally:
            builder.close()

    def call(self, environ):
        status = []
        body = b"".join(self.app(environ, lambda s, h, e=None: status.append(s)))
        return int(status[0].split()[0]), body

    def login(self, client_id):
        params = base.authorize_params(client_id)
        page = self.client.get("/authorize", query_string=params, base_url=self.issuer,
                               follow_redirects=True)
        form = dict(re.findall(r'name="(csrf_token|interaction)"[^>]*value="([^"]*)"',
                               page.get_data(as_text=True)))
        response = self.client.post("/login", data={**form, "email": "bench@example.si",
                                                    "password": base.PASSWORD},
                                    base_url=self.issuer)
        location = response.headers["Location"]
        while not location.startswith(base.REDIRECT):
            location = self.client.get(location, base_url=self.issuer).headers["Location"]
        return parse_qs(urlsplit(location).query)["code"][0]

    def code(self, client_id):
        response = self.client.get("/authorize", query_string=base.authorize_params(client_id),
                                   base_url=self.issuer)
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def requests_for(name, harness, client, tokens, count):
    """``count`` prepared environs for one endpoint (fresh items where needed)."""
    basic = {"Authorization": "Basic " + base64.b64encode(
        f"{client['client_id']}:{client['client_secret']}".encode()).decode()}
    token = "/token"
    if name == "discovery":
        return [harness.environ("GET", "/.well-known/openid-configuration")
                for _ in range(count)]
    if name == "jwks":
        return [harness.environ("GET", "/jwks.json") for _ in range(count)]
    if name == "client_credentials":
        return [harness.environ("POST", token, basic, {"grant_type": "client_credentials"})
                for _ in range(count)]
    if name == "userinfo":
        return [harness.environ("GET", "/userinfo",
                                {"Authorization": "Bearer " + tokens["access_token"]})
                for _ in range(count)]
    if name == "introspection":
        return [harness.environ("POST", "/introspect", basic,
                                {"token": tokens["access_token"]}) for _ in range(count)]
    if name == "code_exchange":
        return [harness.environ("POST", token, basic, {
            "grant_type": "authorization_code", "code": harness.code(client["client_id"]),
            "redirect_uri": base.REDIRECT, "code_verifier": base.VERIFIER})
            for _ in range(count)]
    if name == "refresh":
        refresh_tokens = []
        for environ in requests_for("code_exchange", harness, client, tokens, count):
            refresh_tokens.append(json.loads(harness.call(environ)[1])["refresh_token"])
        return [harness.environ("POST", token, basic, {
            "grant_type": "refresh_token", "refresh_token": value})
            for value in refresh_tokens]
    if name == "revocation":
        values = [json.loads(harness.call(environ)[1])["access_token"] for environ in
                  requests_for("client_credentials", harness, client, tokens, count)]
        return [harness.environ("POST", "/revoke", basic, {
            "token": value, "token_type_hint": "access_token"}) for value in values]
    raise ValueError(name)


def measure(name, harness, client, tokens):
    """Microseconds per request (median of 4 batches), then a profile of one batch."""
    batch = max(50, REQUESTS // 4)
    timings = []
    for _ in range(4):
        environs = requests_for(name, harness, client, tokens, batch)
        started = time.perf_counter()
        for environ in environs:
            status, _ = harness.call(environ)
            if status != 200:
                raise SystemExit(f"{name}: {status}")
        timings.append((time.perf_counter() - started) / batch * 1e6)
    environs = requests_for(name, harness, client, tokens, batch)
    profiler = cProfile.Profile()
    profiler.enable()
    for environ in environs:
        harness.call(environ)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    own = out.getvalue()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(TOP + 12)
    return statistics.median(timings), own, out.getvalue()


def trim(report):
    """The table of a pstats report, with shorter file names."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    text = "\n".join(lines[start:])
    return re.sub(r"/[^ ]*?(site-packages|work/main)/", "", text)


def main():
    work = tempfile.mkdtemp(prefix="idp-profile-")
    results = {}
    try:
        for config in bench.CONFIGS:
            idp, env = bench.start_idp(config, work)  # initialises the database
            bench.stop(idp.pid)  # only its database and settings are wanted here
            os.environ.update({k: v for k, v in env.items() if k.startswith("IDP_")})
            from idp import create_app

            app = create_app()
            harness = Harness(app, idp.base)
            client = {"client_id": idp.client_id, "client_secret": idp.secret}
            code = harness.login(idp.client_id)
            tokens = json.loads(harness.call(harness.environ("POST", "/token", {
                "Authorization": "Basic " + base64.b64encode(
                    f"{idp.client_id}:{idp.secret}".encode()).decode()}, {
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": base.REDIRECT, "code_verifier": base.VERIFIER}))[1])
            try:
                for name in bench.ENDPOINTS:
                    if bench.ONLY and name not in bench.ONLY:
                        continue
                    micros, own, cumulative = measure(name, harness, client, tokens)
                    results[f"{config}/{name}"] = round(micros, 1)
                    print(f"\n===== [{config}] {name}: {micros:.0f} µs per request =====")
                    if os.environ.get("PROFILE_QUIET") != "1":
                        print("-- own time --")
                        print(trim(own))
                        print("-- including callees --")
                        print(trim(cumulative))
            finally:
                if config == "postgres":
                    from idp.extensions import db

                    with app.app_context():
                        db.engine.dispose()
                    bench.redis_cleanup(env["IDP_REDIS_PREFIX"])
                    bench.drop_database(env["IDP_DATABASE_URL"].rsplit("/", 1)[1])
            for key in env:
                if key.startswith("IDP_"):
                    os.environ.pop(key, None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nµs per request:", json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
