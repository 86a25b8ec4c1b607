"""Register the e-bank with the IdP once (``make run`` calls this).

It talks to the IdP only through the operator's ``idp`` command, as a real
bank's onboarding would through its operator, and keeps the credentials in
``instance/ebank-client.json`` (mode 0600)."""

import json
import os
import subprocess
import sys

URL = os.environ.get("EBANK_URL", "http://localhost:5001").rstrip("/")
CLIENT_FILE = os.path.join("instance", "ebank-client.json")


def idp(*args):
    return subprocess.run(["idp", *args], capture_output=True, text=True)


def main():
    if os.path.exists(CLIENT_FILE) and idp("clients", "show", "ebank").returncode == 0:
        print("e-bank client already registered")
        return
    idp("clients", "delete", "ebank", "--yes")  # a stale registration without its secret
    result = idp("clients", "create", "--client-id", "ebank", "--name", "E-banka",
                 "--redirect-uri", URL + "/callback", "--post-logout-redirect-uri", URL + "/",
                 "--first-party", "--backchannel-logout-uri", URL + "/backchannel-logout",
                 "--backchannel-logout-session-required", "--json")
    if result.returncode != 0:
        sys.exit(result.stderr)
    data = json.loads(result.stdout)
    os.makedirs("instance", exist_ok=True)
    fd = os.open(CLIENT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"client_id": data["client_id"], "client_secret": data["client_secret"]}, fh)
    print("registered the e-bank as client 'ebank'")


if __name__ == "__main__":
    main()
