"""SMS through an HTTP gateway: ``POST {"to", "text"}``; anything but 2xx is a failure."""

import requests

ERRORS = (requests.RequestException,)


def send(config, to, text):
    headers = {}
    if config["SMS_GATEWAY_TOKEN"]:
        headers["Authorization"] = f"Bearer {config['SMS_GATEWAY_TOKEN']}"
    # No redirects: a gateway that moved is misconfigured, and the token stays put.
    response = requests.post(config["SMS_GATEWAY_URL"], json={"to": to, "text": text},
                             headers=headers, timeout=float(config["SMS_TIMEOUT"]),
                             allow_redirects=False)
    response.close()
    if not 200 <= response.status_code < 300:
        raise requests.HTTPError(f"gateway answered HTTP {response.status_code}",
                                 response=response)
