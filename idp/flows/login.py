"""The login page: e-mail and password, then (when the account has one) the
second factor (``factor.py``). The session API it uses is ``authn/current.py``."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from ..accounts.service import check_password, clear_login_failures
from ..i18n import lazy_gettext as _l
from ..interactions import attach_login, interaction_expired, load_interaction
from ..authn.current import establish_login, safe_next
from ..authn.methods import alone_methods, combine
from ..authn.methods.password import LOCKED, PasswordMethod
from .factor import start_second_factor

bp = Blueprint("authn", __name__)


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
        return interaction_expired()

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
            second_step = start_second_factor(result.user, iid if interaction else None,
                                              next_url=next_url)
            if second_step is not None:
                return second_step
            clear_login_failures(result.user.email, result.user)
            # The password alone: the same rule as every login (low).
            started = establish_login(result.user, *combine([PasswordMethod.proof()]))
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
    return render_template("login.html", form=form, interaction=interaction, iid=iid,
                           next_url=next_url,
                           alone=[m for m in alone_methods() if m.available(current_app)]), status
