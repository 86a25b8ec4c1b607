"""The ``idp`` command for operators: one Flask CLI group, a sub-group per domain."""

import json
import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup

from . import account_changes
from .accounts import service as accounts
from .oauth import clients as client_service
from .levels import LEVELS

OPERATOR = "operator:cli"


def _emit(as_json, data, human):
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(human)


def _fail(message):
    raise click.ClickException(message)


@click.command("init")
def init_command():
    """Create or upgrade the database schema and the signing keys."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)
    ring = current_app.extensions["idp_keys"]
    if not ring.entries():  # the first init of the cluster takes over a former key folder
        imported = ring.import_folder(_keys_dir(), actor=OPERATOR)
        if imported:
            click.echo(f"Imported {len(imported)} signing key(s) from {_keys_dir()}")
    ring.ensure(actor=OPERATOR)
    keys = ring.entries()
    click.echo(f"Database ready: {current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    click.echo(f"Signing keys: {', '.join(k['alg'] + ' ' + k['kid'] for k in keys if not k['retired_at'])}")


def _keys_dir():
    return os.path.abspath(current_app.config["KEYS_DIR"])


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=int, default=None,
              help="Worker processes (default: one per core with Redis, else 1).")
@click.option("--threads", type=int, default=4, show_default=True,
              help="Blocking threads per worker (password hashing releases the GIL).")
def serve_command(host, port, workers, threads):
    """Run the production server (Granian, WSGI) until SIGTERM or Ctrl-C.

    Dead workers are replaced; stopping lets requests in flight finish and ends
    every process; a port already in use is refused."""
    from flask_migrate import upgrade

    from .extensions import db
    from .ops import server

    if workers is None:
        workers = (os.cpu_count() or 1) if current_app.config.get("REDIS_URL") else 1
    if workers > 1 and not current_app.config.get("REDIS_URL"):
        _fail("several workers need IDP_REDIS_URL: the in-process store is not shared")
    try:
        server.check_port_free(host, port)
    except server.PortTaken as exc:
        _fail(f"{exc}: is another server running? Stop it or choose --port.")
    upgrade(directory=current_app.extensions["migrate"].directory)
    db.engine.dispose()  # this process only supervises: no connection kept open
    click.echo(f"Serving {current_app.config['ISSUER']} on {host}:{port} "
               f"with {workers} worker(s)")
    try:
        code = server.run("idp.wsgi:app", host, port, workers, threads,
                          log_format=current_app.config["LOG_FORMAT"], echo=click.echo)
    except server.PortTaken as exc:  # taken in the meantime
        _fail(f"{exc}: is another server running? Stop it or choose --port.")
    click.echo("Stopped." if code == 0 else f"Granian exited with status {code}.")
    sys.exit(code)


clients = AppGroup("clients", help="Register and manage relying parties.")


@clients.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--public", is_flag=True, help="No secret; PKCE required (SPAs, mobile apps).")
@click.option("--scope", default=None, help="Allowed scopes (default: openid profile email phone).")
@click.option("--min-acr", default=None, help="Minimum level: low, substantial, high or its URI.")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(client_service.GRANT_TYPES),
              help="Default: authorization_code and refresh_token.")
@click.option("--first-party", is_flag=True, help="Trusted client: no consent screen.")
@click.option("--id-token-alg", default="RS256", type=click.Choice(client_service.ID_TOKEN_ALGS))
@click.option("--client-id", default=None, help="Choose the client_id (default: random).")
@click.option("--backchannel-logout-uri", default=None,
              help="Where logout tokens are POSTed when a session ends (Back-Channel Logout).")
@click.option("--backchannel-logout-session-required", is_flag=True,
              help="The client needs the sid claim in logout tokens (always sent).")
@click.option("--auth-method", default=None, type=click.Choice(client_service.AUTH_METHODS),
              help="Client authentication (default: client_secret_basic; none with --public; "
                   "private_key_jwt with keys or --profile fapi2).")
@click.option("--jwks", "jwks_file", default=None, type=click.File(),
              help="File with the client's public JWK Set (private_key_jwt).")
@click.option("--jwks-uri", default=None, help="URL of the client's public JWK Set.")
@click.option("--require-par", is_flag=True, help="Only pushed authorization requests.")
@click.option("--dpop-bound", is_flag=True, help="Only DPoP-bound access tokens.")
@click.option("--profile", default=None, type=click.Choice(client_service.PROFILES),
              help="fapi2: the FAPI 2.0 Security Profile (PAR, PKCE, private_key_jwt, DPoP, ES256).")
@click.option("--json", "as_json", is_flag=True)
def clients_create(name, redirect_uris, post_logout_uris, public, scope, min_acr, grant_types,
                   first_party, id_token_alg, client_id, as_json, backchannel_logout_uri=None,
                   backchannel_logout_session_required=False, auth_method=None, jwks_file=None,
                   jwks_uri=None, require_par=False, dpop_bound=False, profile=None):
    """Register a client. The secret is shown once."""
    try:
        client, secret = client_service.create_client(
            name, redirect_uris, post_logout_uris, public=public, scope=scope, min_acr=min_acr,
            grant_types=grant_types or None, first_party=first_party, id_token_alg=id_token_alg,
            client_id=client_id, actor=OPERATOR, backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required,
            auth_method=auth_method, jwks=_jwks(jwks_file), jwks_uri=jwks_uri,
            require_par=require_par, dpop_bound=dpop_bound, profile=profile)
    except client_service.ClientError as exc:
        _fail(str(exc))
    human = f"Created client {client.name!r}\n  client_id:     {client.client_id}\n"
    if secret is None:
        human += ("  client_secret: (public client, none)" if client.public else
                  f"  authentication: {client.auth_method} (no secret)")
    else:
        human += f"  client_secret: {secret}\n  (shown once: store it now)"
    _emit(as_json, client_service.describe(client, secret), human)


def _jwks(file):
    if file is None:
        return None
    try:
        return json.load(file)
    except ValueError:
        _fail(f"{file.name} is not JSON")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json):
    """List the registered clients."""
    rows = client_service.list_clients()
    human = "\n".join(f"{c.client_id:24} {c.name:30} {'public' if c.public else 'confidential'}"
                      for c in rows) or "No clients."
    _emit(as_json, [client_service.describe(c) for c in rows], human)


def _client_or_fail(client_id):
    client = client_service.get_client(client_id)
    if client is None:
        _fail(f"no client {client_id!r}")
    return client


@clients.command("show")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def clients_show(client_id, as_json):
    """Show one client (never its secret)."""
    data = client_service.describe(_client_or_fail(client_id))
    _emit(as_json, data, "\n".join(f"{k}: {v}" for k, v in data.items()))


@clients.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id, yes):
    """Delete a client and everything issued to it."""
    client = _client_or_fail(client_id)
    if not yes:
        click.confirm(f"Delete client {client.name!r} and revoke its tokens?", abort=True)
    client_service.delete_client(client, actor=OPERATOR)
    click.echo(f"Deleted client {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def clients_rotate_secret(client_id, as_json):
    """Issue a new secret; the old one stops working at once."""
    client = _client_or_fail(client_id)
    try:
        secret = client_service.rotate_secret(client, actor=OPERATOR)
    except client_service.ClientError as exc:
        _fail(str(exc))
    _emit(as_json, {"client_id": client_id, "client_secret": secret},
          f"New secret for {client_id}: {secret}\n(shown once: store it now)")


@clients.command("registration-token")
@click.option("--uses", default=1, show_default=True, type=click.IntRange(1, 10000),
              help="How many clients it may register.")
@click.option("--expires-in", type=click.IntRange(1, 365 * 24 * 3600), default=None,
              help="Seconds it stays valid (default: IDP_REGISTRATION_TOKEN_TTL).")
@click.option("--first-party", is_flag=True,
              help="Clients it registers skip the consent screen.")
@click.option("--json", "as_json", is_flag=True)
def clients_registration_token(uses, expires_in, first_party, as_json):
    """Issue an initial access token for the registration endpoint (RFC 7591)."""
    from .oauth.registration import issue_initial_access_token

    token, row = issue_initial_access_token(uses, expires_in, first_party, actor=OPERATOR)
    data = {"initial_access_token": token, "uses": uses,
            "expires_at": row.expires_at.isoformat() + "Z", "first_party": first_party,
            "registration_endpoint": current_app.config["ISSUER"] + "/connect/register"}
    _emit(as_json, data, f"Initial access token: {token}\n  for {uses} registration(s) "
          f"until {data['expires_at']} at {data['registration_endpoint']}\n"
          "  (shown once: give it to the client's developer over a safe channel)")


keys = AppGroup("keys", help="Signing keys.")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json):
    """List signing keys: active ones sign, retired ones are still published."""
    entries = current_app.extensions["idp_keys"].entries()
    human = "\n".join(f"{e['alg']:6} {e['kid']}  {'retired' if e['retired_at'] else 'active'}"
                      for e in entries)
    _emit(as_json, entries, human)


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(as_json):
    """Make new keys active on every node (within IDP_CACHE_SECONDS); old public keys
    stay published until their tokens expire."""
    added, pruned = current_app.extensions["idp_keys"].rotate(actor=OPERATOR)
    _emit(as_json, {"added": added, "pruned": pruned},
          "Active keys: " + ", ".join(f"{k['alg']} {k['kid']}" for k in added)
          + (f"\nPruned: {', '.join(k['kid'] for k in pruned)}" if pruned else ""))


@keys.command("import")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True)
def keys_import(folder, as_json):
    """Import the keys of a key folder (default IDP_KEYS_DIR) that the ring lacks."""
    folder = os.path.abspath(folder) if folder else _keys_dir()
    if not os.path.exists(os.path.join(folder, "keys.json")):
        _fail(f"no keys.json in {folder}")
    imported = current_app.extensions["idp_keys"].import_folder(folder, actor=OPERATOR)
    _emit(as_json, imported, "\n".join(
        f"Imported {k['alg']} {k['kid']}  {'retired' if k['retired_at'] else 'active'}"
        for k in imported) or "Nothing to import: the ring has every key.")


@keys.command("rewrap")
@click.option("--json", "as_json", is_flag=True)
def keys_rewrap(as_json):
    """Seal every private key under the first IDP_KEY_ENCRYPTION_KEYS entry."""
    from .signing import KeyEncryptionError

    ring = current_app.extensions["idp_keys"]
    try:
        kids = ring.rewrap(actor=OPERATOR)
    except KeyEncryptionError as exc:
        _fail(str(exc))
    _emit(as_json, {"rewrapped": kids, "kek_id": ring.sealer.primary_id},
          f"Re-sealed {len(kids)} key(s) under key-encryption key {ring.sealer.primary_id}")


users = AppGroup("users", help="Accounts (operator support and tests).")


@users.command("create")
@click.option("--email", required=True)
@click.option("--phone", default=None, help="Mobile number; Slovenian format or E.164.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--given-name", default=None)
@click.option("--family-name", default=None)
@click.option("--trust-level", default="low", type=click.Choice(LEVELS))
@click.option("--if-missing", is_flag=True, help="Succeed quietly if the e-mail exists.")
@click.option("--json", "as_json", is_flag=True)
def users_create(email, phone, password, given_name, family_name, trust_level, if_missing,
                 as_json):
    """Create an account with verified e-mail and phone."""
    if if_missing and accounts.find_by_email(email):
        user = accounts.find_by_email(email)
    else:
        try:
            user = accounts.create_user(email, password, phone, trust_level, given_name,
                                        family_name, actor=OPERATOR)
        except accounts.AccountError as exc:
            _fail(str(exc))
    _emit(as_json, {"sub": user.sub, "email": user.email, "phone": user.phone,
                    "trust_level": user.trust_level},
          f"Account {user.email} (sub {user.sub}, trust level {user.trust_level})")


def _user_or_fail(email):
    user = accounts.find_by_email(email)
    if user is None:
        _fail(f"No account with the e-mail address {email}.")
    return user


@users.command("deactivate")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
def users_deactivate(email, as_json):
    """Deactivate an account: it cannot log in, its sessions end (its services
    hear of it by back-channel logout) and its tokens stop working."""
    user = _user_or_fail(email)
    ended = account_changes.deactivate_account(user, actor=OPERATOR)
    _emit(as_json, {"sub": user.sub, "email": user.email, "active": False,
                    "changed": ended is not None, "sessions_ended": ended or 0},
          f"Account {user.email} was already inactive." if ended is None else
          f"Account {user.email} deactivated; {ended} session(s) ended.")


@users.command("activate")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
def users_activate(email, as_json):
    """Let a deactivated account log in again."""
    user = _user_or_fail(email)
    changed = account_changes.activate_account(user, actor=OPERATOR)
    _emit(as_json, {"sub": user.sub, "email": user.email, "active": True, "changed": changed},
          f"Account {user.email} activated." if changed else
          f"Account {user.email} was already active.")


officers = AppGroup("officers", help="Branch officers (the operator console at /officer).")


@officers.command("create")
@click.option("--email", required=True)
@click.option("--phone", required=True, help="Mobile number; Slovenian format or E.164.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--json", "as_json", is_flag=True)
def officers_create(email, phone, password, given_name, family_name, as_json):
    """Create an officer account with an authenticator app as its second factor.
    The app's secret is shown once: add it to the officer's app now."""
    from .trust.officers import create_officer

    try:
        user, uri = create_officer(email, password, phone, given_name, family_name,
                                   actor=OPERATOR)
    except accounts.AccountError as exc:
        _fail(str(exc))
    _emit(as_json, {"sub": user.sub, "email": user.email, "totp_uri": uri},
          f"Officer {user.email} (sub {user.sub})\n"
          f"  authenticator app: {uri}\n  (shown once: add it to the app now)")


@officers.command("grant")
@click.argument("email")
def officers_grant(email):
    """Make an existing account an officer (it must log in with a second factor)."""
    from .trust.officers import set_officer

    if not set_officer(accounts.find_by_email(email), True, actor=OPERATOR):
        _fail(f"no account {email!r}")
    click.echo(f"{email} is an officer")


@officers.command("revoke")
@click.argument("email")
def officers_revoke(email):
    """Take the officer role away (its sessions end)."""
    from .trust.officers import set_officer

    if not set_officer(accounts.find_by_email(email), False, actor=OPERATOR):
        _fail(f"no account {email!r}")
    click.echo(f"{email} is no longer an officer")


@officers.command("list")
def officers_list():
    """List the officers."""
    from .trust.officers import list_officers

    click.echo("\n".join(f"{u.email:40} {u.name or ''}" for u in list_officers())
               or "No officers.")


def init_app(app):
    app.cli.add_command(init_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(clients)
    app.cli.add_command(keys)
    app.cli.add_command(users)
    app.cli.add_command(officers)


def _create_app():
    from . import create_app

    return create_app()


def main():
    cli = FlaskGroup(create_app=_create_app, add_default_commands=False,
                     help="Operate the identity provider.")
    sys.exit(cli.main(prog_name="idp"))
