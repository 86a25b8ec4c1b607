"""Trying the EU Digital Identity Wallet locally (docs/wallet.md), with the
test PID provider and the software wallet of the test suite. NOT for
production: the keys it writes are development keys.

    python tests/wallet_cli.py setup instance/wallet
        writes a PID provider (trust anchor in instance/wallet/anchors/) and
        the verifier's access certificate and key; prints the IDP_* settings.
    python tests/wallet_cli.py answer instance/wallet 'openid4vp://?client_id=…'
        issues a PID (Ana Novak by default; --given-name/--family-name/
        --birthdate/--no-number) and answers the request over HTTP, serving the
        status list meanwhile; prints where the wallet sends the browser.
"""

import argparse
import json
import sys
from pathlib import Path

from pid_provider import (ANA, PidProvider, holder_key, load_provider, save_provider,
                          verifier_certificate)
from wallet import RealHttp, Wallet

STATUS_PORT = 5003  # the development status list, while `answer` runs


def setup(folder, force=False):
    folder = Path(folder)
    if (folder / "provider" / "root.pem").exists() and not force:
        print(f"{folder}: already set up")
    else:
        provider = PidProvider(folder / "anchors")
        save_provider(provider, folder / "provider")
        verifier_certificate(folder)
        print(f"{folder}: test PID provider and verifier certificate written")
    for name, value in (("IDP_PID_PROVIDERS_DIR", folder / "anchors"),
                        ("IDP_VERIFIER_CERT_FILE", folder / "verifier.pem"),
                        ("IDP_VERIFIER_KEY_FILE", folder / "verifier.key")):
        print(f"  {name}={value.resolve()}")


def answer(folder, link, claims):
    provider = load_provider(Path(folder) / "provider", port=STATUS_PORT)
    try:
        holder = holder_key()
        wallet = Wallet(provider.issue(holder, claims), holder, RealHttp())
        result = wallet.answer(link)
        print(f"response URI answered {result.status}: {result.body}")
        if result.status == 200:
            uri = json.loads(result.body).get("redirect_uri")
            print(f"open in the same browser: {uri}" if uri else
                  "cross-device: the page you scanned from updates by itself")
    finally:
        provider.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("folder")
    s.add_argument("--force", action="store_true")
    a = sub.add_parser("answer")
    a.add_argument("folder")
    a.add_argument("link")
    a.add_argument("--given-name", default=ANA["given_name"])
    a.add_argument("--family-name", default=ANA["family_name"])
    a.add_argument("--birthdate", default=ANA["birthdate"])
    a.add_argument("--no-number", action="store_true",
                   help="a PID without the personal administrative number")
    args = parser.parse_args(argv)
    if args.command == "setup":
        setup(args.folder, args.force)
    else:
        claims = {**ANA, "given_name": args.given_name, "family_name": args.family_name,
                  "birthdate": args.birthdate}
        if args.no_number:
            claims.pop("personal_administrative_number")
        answer(args.folder, args.link, claims)


if __name__ == "__main__":
    sys.exit(main())
