"""``python -m clients.ebank [--port 5001]``: serve the demo e-bank with Granian."""

import argparse
import os

parser = argparse.ArgumentParser(description="Demo e-bank relying party")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", default="5001")
args = parser.parse_args()
os.execvp("granian", ["granian", "--interface", "wsgi", "--host", args.host, "--port", args.port,
                      # The payment pages call the e-bank's own API: two requests at once.
                      "--blocking-threads", "4",
                      "--no-ws", "--log-level", "warning", "clients.ebank.wsgi:app"])
