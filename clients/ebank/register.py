"""Register the e-bank with the IdP once (``make run`` calls this).

It makes the e-bank's key pair and registers its public half as a FAPI 2.0
client (``--profile fapi2``: PAR, PKCE, private_key_jwt, DPoP, ES256 ID tokens).
It talks to the IdP only through the operator's ``idp`` command, as a real
bank's onboarding would through its operator, and keeps the client_id and the
private key in ``instance/ebank-client.json`` (mode 0600)."""

import json
import os
import subprocess
import sys
import tempfile

from .fapi import new_client_key

URL = os.environ.get("EBANK_URL", "http://localhost:5001").rstrip("/")
CLIENT_FILE = os.path.join("instance", "ebank-client.json")


def idp(*args):
    return subprocess.run(["idp", *args], capture_output=True, text=True)


def main():
    if _has_key() and idp("clients", "show", "ebank").returncode == 0:
        print("e-bank client already registered")
        return
    idp("clients", "delete", "ebank", "--yes")  # a stale registration without its key
    private_jwk, public_jwks = new_client_key()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as jwks:
        json.dump(public_jwks, jwks)
        jwks.flush()
        result = idp("clients", "create", "--client-id", "ebank", "--name", "E-banka",
                     "--redirect-uri", URL + "/callback", "--post-logout-redirect-uri",
                     URL + "/", "--first-party", "--profile", "fapi2", "--jwks", jwks.name,
                     "--id-token-alg", "ES256",
                     "--backchannel-logout-uri", URL + "/backchannel-logout",
                     "--backchannel-logout-session-required", "--json")
    if result.returncode != 0:
        sys.exit(result.stderr)
    data = json.loads(result.stdout)
    os.makedirs("instance", exist_ok=True)
    fd = os.open(CLIENT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"client_id": data["client_id"], "private_jwk": private_jwk}, fh)
    print("registered the e-bank as client 'ebank' (FAPI 2.0 profile)")


def _has_key():
    try:
        with open(CLIENT_FILE) as fh:
            return "private_jwk" in json.load(fh)
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    main()
