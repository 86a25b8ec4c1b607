"""``python -m clients.ebank [--port 5001]``: serve the demo e-bank with Granian,
started and stopped the way ``idp serve`` does it (idp/ops/server.py)."""

import argparse
import sys

from idp.ops import server

parser = argparse.ArgumentParser(description="Demo e-bank relying party")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", default=5001, type=int)
args = parser.parse_args()
try:
    # The payment pages call the e-bank's own API: two requests at once.
    sys.exit(server.run("clients.ebank.wsgi:app", args.host, args.port, workers=1, threads=4))
except server.PortTaken as exc:
    sys.exit(f"Error: {exc}")
