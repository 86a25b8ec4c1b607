"""The wallet's pages and endpoints.

People: ``/trust/wallet`` (same device: a link that opens the wallet),
``/trust/wallet/qr`` (another device: a QR code, a status the page polls and a
"check now" button), ``/trust/wallet/done`` (where the wallet sends the
browser back with a response code) and ``/trust/wallet/check/<tid>``.

Wallets: ``/openid4vp/request/<tid>`` (the signed request object, GET or POST
with ``wallet_nonce``) and ``/openid4vp/response/<tid>`` (``direct_post.jwt``).
They carry no cookies, so nothing there trusts the session; the answer is
redeemed only by the browser session that started."""

import logging
import secrets
import time

import segno
from flask import Blueprint, abort, current_app, jsonify, render_template, request, session

from ...authn.current import require_login
from ...extensions import csrf, store
from ...interactions import browser_id, load_interaction
from ...store import get_json, set_json
from ...web import issuer_url
from ...levels import HIGH
from ..views import _done
from . import openid4vp, service
from .pid import PidRefused

log = logging.getLogger(__name__)

bp = Blueprint("wallet", __name__)


def _require_wallet():
    if not service.enabled(current_app):
        abort(404)
    try:
        service.anchors(current_app)
        return openid4vp.verifier_identity(current_app)
    except openid4vp.WalletSetupError as exc:
        log.error("wallet: %s", exc)
        abort(503)


def _start(login, flow):
    iid = request.args.get("interaction") or None
    if iid and load_interaction(iid) is None:
        abort(400)
    return openid4vp.new_transaction(
        store(), current_app.config["WALLET_REQUEST_TTL"],
        secret=current_app.config["SECRET_KEY"], user_id=login.user_id,
        sid=login.public_id, bid=browser_id(), iid=iid, flow=flow)


def _load(tid):
    return openid4vp.load_transaction(store(), tid, secret=current_app.config["SECRET_KEY"])


def _link(identity, tx):
    return openid4vp.wallet_link(identity.client_id,
                                 issuer_url("wallet.request_object", tid=tx["id"]))


def _cross_device_allowed(user):
    return service.cross_device_problem(user) is None


@bp.get("/trust/wallet")
def start():
    login = require_login()
    identity = _require_wallet()
    tx = _start(login, openid4vp.SAME_DEVICE)
    return render_template("trust_wallet.html", link=_link(identity, tx), iid=tx["iid"],
                           tx=tx, cross_device=_cross_device_allowed(login.user))


@bp.get("/trust/wallet/qr")
def cross_device():
    login = require_login()
    identity = _require_wallet()
    if not _cross_device_allowed(login.user):
        return render_template("trust_wallet_qr.html", allowed=False,
                               iid=request.args.get("interaction"))
    tx = _start(login, openid4vp.CROSS_DEVICE)
    return _qr_page(identity, tx)


def _qr_page(identity, tx, waiting=False, status=200):
    link = _link(identity, tx)
    qr = segno.make(link, error="m").svg_inline(scale=3, dark="#0b0c0c")
    return render_template("trust_wallet_qr.html", allowed=True, qr_svg=qr, link=link, tx=tx,
                           iid=tx["iid"], waiting=waiting,
                           seconds=max(0, int(tx["expires_at"] - time.time()))), status


# -- the wallet's side ----------------------------------------------------------------

@bp.route("/openid4vp/request/<tid>", methods=["GET", "POST"])
@csrf.exempt
def request_object(tid):
    identity = _require_wallet()
    tx = _load(tid)
    if tx is None:
        return _wallet_error("invalid_request_uri", "unknown or expired request", 404)
    wallet_nonce = request.form.get("wallet_nonce") if request.method == "POST" else None
    if wallet_nonce is not None and not 8 <= len(wallet_nonce) <= 256:
        return _wallet_error("invalid_request", "wallet_nonce")
    body = openid4vp.request_object(
        tx, identity, response_uri=issuer_url("wallet.response", tid=tid),
        vcts=service.as_list(current_app.config["PID_VCTS"]),
        authority_key_ids=service.anchors(current_app).key_identifiers, wallet_nonce=wallet_nonce)
    return body, 200, {"Content-Type": "application/oauth-authz-req+jwt",
                       "Cache-Control": "no-store"}


def _wallet_error(error, description, status=400):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _result_key(tid):
    return "wallet:result:" + tid


@bp.post("/openid4vp/response/<tid>")
@csrf.exempt
def response(tid):
    _require_wallet()
    shared = store()
    raw = get_json(shared, "wallet:tx:" + tid) if 16 <= len(tid) <= 64 else None
    if raw is None:
        return _wallet_error("invalid_request", "unknown or expired transaction")
    tx = _load(tid)
    if tx is None:
        if store().add("wallet:answered:" + tid, "1", current_app.config["WALLET_REQUEST_TTL"]):
            service.refuse(raw, "expired", "transaction", ip=request.remote_addr)
            _keep_result(raw, {"status": "refused", "reason_class": "expired"})
        return _wallet_error("invalid_request", "the transaction has expired")
    if "response" not in request.form and "error" in request.form:
        # The wallet (or the person) declined, unencrypted as §8.2 allows.
        return _declined(tx, request.form)
    try:
        payload = openid4vp.open_response(tx, request.form.get("response"))
        if "error" in payload and "vp_token" not in payload:
            return _declined(tx, payload)
        presentation = openid4vp.presentation_in(payload, tx)
    except openid4vp.ResponseError as exc:
        log.info("wallet response refused: %s", exc.reason)
        return _wallet_error("invalid_request", exc.reason)
    try:
        pid = service.check_presentation(current_app, shared, tx, presentation)
    except PidRefused as exc:
        log.info("wallet presentation refused: %s", exc)
        return _answered(tx, {"status": "refused", "reason_class": exc.reason_class},
                         reason=exc.reason)
    return _answered(tx, {"status": "verified", "pid": service.pid_to_dict(pid)})


def _declined(tx, answer):
    if not isinstance(answer.get("state"), str) or not secrets.compare_digest(
            answer["state"], tx["state"]):
        return _wallet_error("invalid_request", "state")
    return _answered(tx, {"status": "refused", "reason_class": "declined"}, reason="declined")


def _keep_result(tx, result):
    result.update({k: tx[k] for k in ("id", "user_id", "sid", "bid", "iid", "flow")})
    set_json(store(), _result_key(tx["id"]), result, current_app.config["WALLET_REQUEST_TTL"])


def _answered(tx, result, reason=None):
    """Keep the outcome for the browser (once per transaction) and tell the wallet
    where to send the person (same device)."""
    ttl = current_app.config["WALLET_REQUEST_TTL"]
    if not store().add("wallet:answered:" + tx["id"], "1", ttl):
        service.refuse(tx, "replayed", "transaction", ip=request.remote_addr)
        return _wallet_error("invalid_request", "this transaction was already answered")
    if reason is not None:
        service.refuse(tx, reason, result["reason_class"], ip=request.remote_addr)
    _keep_result(tx, result)
    body = {}
    if tx["flow"] == openid4vp.SAME_DEVICE:
        code = secrets.token_urlsafe(24)
        set_json(store(), "wallet:code:" + code, tx["id"], ttl)
        body["redirect_uri"] = issuer_url("wallet.done", response_code=code)
    answer = jsonify(body)
    answer.headers["Cache-Control"] = "no-store"
    return answer


# -- back in the browser --------------------------------------------------------------

def _refused_page(reason_class, iid, status=400):
    return render_template("trust_wallet_result.html", message=service.REFUSED[reason_class],
                           reason_class=reason_class, iid=iid), status


def _owned(result, login):
    """Whether this browser session started the transaction."""
    return (result.get("user_id") == login.user_id and result.get("sid") == login.public_id
            and secrets.compare_digest(result.get("bid") or "", session.get("bid") or ""))


def _finish(login, tid):
    """Redeem the stored outcome of ``tid`` (once) in the session that started."""
    key = _result_key(tid)
    result = get_json(store(), key)
    if result is None:
        return _refused_page("expired", request.args.get("interaction"))
    if not _owned(result, login):
        service.refuse(result, "other_session", "transaction", ip=request.remote_addr)
        return _refused_page("other_session", None, 403)
    if store().pop(key) is None:  # single use: only one redemption gets it
        return _refused_page("replayed", None)
    iid = result.get("iid")
    if result["status"] != "verified":
        return _refused_page(result["reason_class"], iid)
    problem = service.raise_with_pid(current_app, login.user, service.pid_from_dict(result["pid"]),
                                     result, ip=request.remote_addr)
    if problem is not None:
        return _refused_page(problem, iid)
    if result["flow"] == openid4vp.SAME_DEVICE:
        # As with an ID key: the wallet on this very device just proved the
        # person (a PID at level high, bound to the wallet's key), so adding a
        # passkey right after needs no further confirmation.
        session["verified_at"] = session["id_key_at"] = int(time.time())
    return _done(iid, load_interaction(iid) if iid else None, HIGH)


@bp.get("/trust/wallet/done")
def done():
    login = require_login()
    _require_wallet()
    code = request.args.get("response_code", "")
    tid = get_json(store(), "wallet:code:" + code) if 16 <= len(code) <= 64 else None
    if tid is None:
        return _refused_page("expired", None)
    return _finish(login, tid)


@bp.get("/trust/wallet/status/<tid>")
def status(tid):
    login = require_login()
    _require_wallet()
    result = get_json(store(), _result_key(tid)) if 16 <= len(tid) <= 64 else None
    if result is not None:
        state = "answered" if _owned(result, login) else None
    else:
        tx = _load(tid)
        state = ("pending" if tx and tx["bid"] == session.get("bid") else
                 None if tx else "expired")
    if state is None:
        abort(404)
    answer = jsonify(status=state)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.get("/trust/wallet/check/<tid>")
def check(tid):
    """The QR page's "check now" (and where its polling goes once answered)."""
    login = require_login()
    identity = _require_wallet()
    if 16 <= len(tid) <= 64 and get_json(store(), _result_key(tid)) is None:
        tx = _load(tid)
        if tx is not None and tx["bid"] == session.get("bid"):
            return _qr_page(identity, tx, waiting=True)
    return _finish(login, tid)

