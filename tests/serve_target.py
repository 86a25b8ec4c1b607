"""A tiny WSGI app for tests/test_serve.py: ``/slow`` answers after 3 seconds, so a
request can be in flight when the server is told to stop."""

import time


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(3)
    body = b"done " + environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
