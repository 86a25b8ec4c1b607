"""The payment pages. The form's order goes to the payment API (``API_URL``)
over HTTP with the (DPoP-bound) access token of the login and a DPoP proof,
as any API client's would. When
the API answers with an RFC 9470 step-up challenge, the order waits in the
session while the person logs in again at the level (and recency) the
challenge names; ``/payment/confirm`` then sends it with the new token."""

import hmac
import secrets
import time
from dataclasses import dataclass

import requests
from flask import (Blueprint, current_app, redirect, render_template, request, session,
                   url_for)

from .challenge import step_up_request
from .ledger import PaymentError, parse_amount, parse_recipient

bp = Blueprint("payment", __name__)

PENDING_TTL = 600  # seconds a payment may wait for the login it needs
CONFIRM = "/payment/confirm"


@dataclass
class Outcome:
    """What the payment API made of an order."""

    kind: str  # done, step_up, login, invalid, unavailable
    payment: dict | None = None
    step_up: dict | None = None  # acr_values / max_age the API asked for
    field: str | None = None
    message: str | None = None


def send_order(api_url, access_token, order, timeout, fapi):
    """POST the order to the payment API with a proof of our DPoP key; never
    raises for network trouble."""
    url = api_url + "/payments"
    try:
        response = requests.post(url, json=order, timeout=timeout, allow_redirects=False,
                                 headers={"Authorization": f"DPoP {access_token}",
                                          "DPoP": fapi.dpop_proof("POST", url, access_token)})
    except requests.RequestException:
        return Outcome("unavailable")
    body = _json_object(response)
    if response.status_code == 201 and "id" in body:
        return Outcome("done", payment=body)
    if response.status_code == 401:
        wanted = step_up_request(response.headers.get("WWW-Authenticate"))
        if wanted is not None:
            return Outcome("step_up", step_up=wanted)
        return Outcome("login")  # expired or revoked: a new login brings a new token
    if response.status_code == 400:
        return Outcome("invalid", field=body.get("field"), message=body.get("error_description"))
    return Outcome("unavailable")


def _json_object(response):
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def csrf_token():
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _csrf_ok(sent):
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(sent.encode(), expected.encode())


def _order_from(form):
    amount = form.get("amount", "").strip()
    if "," in amount and "." not in amount:
        amount = amount.replace(",", ".")  # 12,50 as written in Slovenia
    return {"amount": amount, "to": form.get("to", "").strip()}


def _page(status=200, **context):
    login = session["login"]
    context.setdefault("order", {"amount": "", "to": ""})
    return render_template("ebank_payment.html", acr=login["claims"].get("acr"),
                           csrf_token=csrf_token(), **context), status


def _settle(outcome, order, after_step_up=False):
    """The page or redirect for what the API said."""
    login = session["login"]
    if outcome.kind == "done":
        return _page(payment=outcome.payment)
    if outcome.kind in ("step_up", "login"):
        if after_step_up:
            return _page(403, problem="not_enough", order=order)  # no login loop
        # Kept here, not in the (client-side) session cookie, so a replayed
        # cookie or a second tab cannot send it twice.
        pending_id = secrets.token_urlsafe(16)
        orders = _pending_orders()
        for stale in [k for k, v in list(orders.items()) if v["expires"] < time.time()]:
            orders.pop(stale, None)
        orders[pending_id] = {**order, "sub": login["claims"].get("sub"),
                                         "expires": int(time.time()) + PENDING_TTL}
        session["pending_payment"] = pending_id
        wanted = outcome.step_up or {}
        return redirect(url_for("login", acr=wanted.get("acr_values"),
                                max_age=wanted.get("max_age"), next=CONFIRM))
    if outcome.kind == "invalid":
        return _page(400, problem="invalid", field=outcome.field, detail=outcome.message,
                     order=order)
    return _page(503, problem="unavailable", order=order)


def _pending_orders():
    """Orders waiting for a step-up login, by single-use id (this process)."""
    return current_app.extensions.setdefault("ebank_pending_orders", {})


def _send(order):
    access_token = session["login"].get("access_token")
    if not access_token:
        return Outcome("login")  # a login from before the e-bank kept tokens
    return send_order(current_app.config["API_URL"], access_token, order,
                      current_app.config["HTTP_TIMEOUT"], current_app.extensions["ebank_fapi"])


@bp.get("/payment")
def form():
    if not session.get("login"):
        return redirect(url_for("login", next="/payment"))
    return _page()


@bp.post("/payment")
def submit():
    if not session.get("login"):
        return redirect(url_for("login", next="/payment"))
    order = _order_from(request.form)
    if not _csrf_ok(request.form.get("csrf_token", "")):
        return _page(400, problem="csrf", order=order)
    wrong = order_problems(order)
    if wrong:  # every problem at once, and no login at high for an order that cannot go
        return _page(400, problem="invalid", fields=wrong, order=order)
    return _settle(_send(order), order)


def order_problems(order):
    """The fields of ``order`` the payment API would refuse, checked here first
    (the API checks them again)."""
    wrong = []
    for name, parse in (("amount", parse_amount), ("to", parse_recipient)):
        try:
            parse(order[name])
        except PaymentError:
            wrong.append(name)
    return wrong


@bp.get(CONFIRM)
def confirm():
    """Back from the login a payment asked for: send the waiting order once."""
    pending_id = session.pop("pending_payment", None)
    pending = _pending_orders().pop(pending_id, None) if isinstance(pending_id, str) else None
    login = session.get("login")
    if not login:
        return redirect(url_for("login", next="/payment"))
    if not pending or pending.get("expires", 0) < time.time():
        return redirect(url_for("payment.form"))
    order = {"amount": pending["amount"], "to": pending["to"]}
    if pending.get("sub") != login["claims"].get("sub"):
        return _page(403, problem="other_person", order=order)
    return _settle(_send(order), order, after_step_up=True)
