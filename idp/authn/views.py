"""The login page and the current login session."""

import time
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request, session,
                   url_for)
from ..i18n import lazy_gettext as _l
from ..interactions import attach_login, load_interaction
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from ..accounts.service import check_password, clear_login_failures
from ..trust.levels import LOW
from . import PASSWORD_AMR
from .methods.password import LOCKED
from .sessions import end_session, load_session, renew_session_secret, start_session

bp = Blueprint("authn", __name__)


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
        from ..oauth.backchannel import carry_over

        carry_over(previous.public_id, started.public_id)  # its clients hear of the logout
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


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail address.")),
                                                Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                       Length(max=1024)])
    interaction = HiddenField()
    next = HiddenField()  # where the login was asked for (a path here), checked by safe_next
    submit = SubmitField(_l("Log in"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    iid = request.values.get("interaction") or None
    interaction = load_interaction(iid)
    if iid and interaction is None:
        return render_template("interaction_expired.html"), 400

    form = LoginForm()
    next_url = None if interaction else safe_next(request.values.get("next"))
    if request.method == "GET":
        form.interaction.data = iid
        form.next.data = next_url
        hint = request.args.get("login_hint")  # after a password reset
        if interaction:
            hint = dict(interaction["params"]).get("login_hint", [hint])[0]
        if hint and "@" in hint:
            form.email.data = hint
    error = None
    if form.validate_on_submit():
        result = check_password(form.email.data, form.password.data, ip=request.remote_addr)
        if result.ok:
            from .factors import start_second_factor

            second_step = start_second_factor(result.user, iid if interaction else None,
                                              next_url=next_url)
            if second_step is not None:
                return second_step
            clear_login_failures(result.user.email, result.user)
            started = establish_login(result.user, [PASSWORD_AMR], LOW)
            if interaction:
                attach_login(iid, interaction, started)
                return redirect(url_for("oauth.resume", iid=iid))
            return redirect(next_url or url_for("dashboard.home"))
        error = "locked" if result.locked else "invalid"
        form.password.errors = [
            LOCKED if result.locked else _l("The e-mail address or password is not correct.")]
    status = 200 if not form.errors else 400
    if error == "locked":
        status = 429
    from .methods.certificate import available

    return render_template("login.html", form=form, interaction=interaction, iid=iid,
                           next_url=next_url, certificate_login=available(current_app)), status


def continue_to_rp(iid, interaction, next_url=None):
    """Back to the waiting RP; when none waits, to ``next_url`` (the page that
    asked for the login) or the dashboard (also when the RP's request expired)."""
    if interaction is None and next_url and not iid:
        return redirect(next_url)
    if interaction is None:
        return redirect(url_for("dashboard.home", expired=1 if iid else None))
    return redirect(url_for("oauth.resume", iid=iid))
