"""The login of this browser: which session it carries, how a page asks for
one, and how a login starts, is renewed, ends or returns to the waiting RP.

The session API every page uses (the login page, the second factor, the
dashboard, the flows, the OAuth pages); it sits below all of them and above
the stored sessions (``sessions.py``)."""

import time
from urllib.parse import urlsplit

from flask import abort, g, redirect, request, session, url_for

from .sessions import (continue_session, end_session, load_session, renew_session_secret,
                       start_session)


def current_login():
    """The live login session of this browser, or None (cached per request)."""
    if "idp.login" not in request.environ:
        request.environ["idp.login"] = load_session(session.get("sid"))
    return request.environ["idp.login"]


def require_login():
    """The current login; without one, the request ends in a redirect to the
    login page."""
    login = current_login()
    if login is None:
        # After the login, back to the page that was asked for.
        here = request.full_path if request.query_string else request.path
        back = here if request.method == "GET" and here != "/" else None
        abort(redirect(url_for("authn.login", next=back)))
    return login


def safe_next(url):
    """Only a path on this site: no scheme, no host, and no control character,
    space or backslash (browsers read a slash, then a tab or a backslash, as
    the start of a host name)."""
    if not url or not url.startswith("/") or len(url) > 512:
        return None
    if any(ord(ch) < 0x21 or ch in "\\\x7f" for ch in url):
        return None
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc and url[1:2] != "/" else None


def log_out_current(reason):
    login = current_login()
    if login is not None:
        end_session(login, reason, ip=request.remote_addr)
    _restart_session()
    request.environ["idp.login"] = None


def _restart_session(**keep):
    """A fresh session (new CSRF token), keeping the language and browser id."""
    kept = {k: session[k] for k in ("lang", "bid") if k in session}
    session.clear()
    session.update(kept, **keep)
    g.pop("csrf_token", None)  # Flask-WTF's per-request copy of the old token


def establish_login(user, amr, strength):
    """Start a login session for this browser (a new session cookie and CSRF token)."""
    previous = current_login()
    if previous is not None:
        # Someone else on this browser: what the old session issued dies with
        # it. The same person logging in again keeps their tokens.
        same = previous.user_id == user.id
        end_session(previous, "reauthenticated" if same else "replaced",
                    ip=request.remote_addr, revoke_tokens=not same)
    _restart_session(verified_at=int(time.time()))
    started = start_session(user, amr, strength, ip=request.remote_addr,
                            user_agent=request.user_agent.string)
    if previous is not None and previous.user_id == user.id:
        continue_session(previous, started)  # its tokens and clients go on with the new one
    session["sid"] = started.id
    request.environ["idp.login"] = started
    return started


def renew_login():
    """After a rise in the strength of this browser's session (step-up,
    re-authentication, an ID key redeemed): a new session secret and a new
    cookie, as a login gets; the old cookie no longer logs anyone in."""
    login = current_login()
    if login is None:
        return None
    renewed = renew_session_secret(login)
    _restart_session(**{k: v for k, v in session.items() if k not in ("sid", "csrf_token")})
    session["sid"] = renewed.id
    request.environ["idp.login"] = renewed
    return renewed


def continue_to_rp(iid, interaction, next_url=None):
    """Back to the waiting RP; when none waits, to ``next_url`` (the page that
    asked for the login) or the dashboard (also when the RP's request expired)."""
    if interaction is None and next_url and not iid:
        return redirect(next_url)
    if interaction is None:
        return redirect(url_for("dashboard.home", expired=1 if iid else None))
    return redirect(url_for("oauth.resume", iid=iid))
