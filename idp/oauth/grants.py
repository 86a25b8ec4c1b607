"""Authlib grants, extended with our storage and policy.

- authorization code with PKCE (S256 only; required for public clients) and the
  OpenID Connect extension that adds the ID token;
- refresh token with rotation and reuse detection;
- client credentials for machine clients."""

import hashlib
import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from flask import current_app

from .. import audit
from ..extensions import db, store
from ..timeutil import utcnow
from .claims import releasable_claims, released_scopes, user_claims
from .client_auth import ALL_METHODS, CONFIDENTIAL_METHODS
from .codes import consume_code, save_code
from .resources import InvalidTargetError, requested_resource
from .lookups import query_user
from .models import RefreshToken
from .tokens import query_refresh_token, revoke_family

FAPI2_CODE_TTL = 60
SECRET_OR_PUBLIC = ALL_METHODS  # whichever method the client registered (client_auth.py)


class PKCE(CodeChallenge):
    """RFC 7636 with S256 only (plain is refused), and required of public clients
    already at the authorization endpoint."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if (grant.client.public or grant.client.fapi2) and not data.get("code_challenge"):
            raise InvalidRequestError("This client must use PKCE (code_challenge, S256).",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            # RFC 7636 defaults to plain, which we do not accept.
            raise InvalidRequestError("code_challenge_method must be S256.",
                                      redirect_uri=redirect_uri)
        try:
            super().validate_code_challenge(grant, redirect_uri)
        except InvalidRequestError as error:
            error.redirect_uri = redirect_uri
            raise

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


@dataclass
class LoginContext:
    """How the person logged in: copied into the code, then into the tokens."""

    sid: str
    auth_time: int
    acr: str
    amr: list
    family: str


def nonce_key(client_id, nonce):
    return "nonce:" + hashlib.sha256(f"{client_id}\0{nonce}".encode()).hexdigest()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_OR_PUBLIC
    AUTHORIZATION_CODE_LENGTH = 43

    #: How the person logged in (a ``LoginContext``): the authorization pipeline
    #: (authorize.py) sets it on the grant before it issues a code.
    login = None

    def save_authorization_code(self, code, request):
        login = self.login
        if login is None:
            raise RuntimeError("A code is issued only for a login (authorize.py sets grant.login).")
        data = request.payload.data
        record = {
            "client_id": request.client.client_id,
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope,  # what the client may have of what it asked
            "nonce": data.get("nonce"),
            "code_challenge": data.get("code_challenge"),
            "code_challenge_method": data.get("code_challenge_method"),
            "uid": request.user.id,
            "sid": login.sid,
            "auth_time": login.auth_time,
            "acr": login.acr,
            "amr": login.amr,
            "fam": login.family,
            "resource": data.get("resource"),  # RFC 8707
            "dpop_jkt": data.get("dpop_jkt"),  # RFC 9449 10: the code is bound to this key
        }
        # Claims asked for by name, within what the client may have and the
        # person consented to (the pipeline asked for consent to these scopes).
        scopes = released_scopes(request.client, request.scope, data.get("claims"))
        record["claims_id_token"] = releasable_claims(data.get("claims"), "id_token", scopes)
        record["claims_userinfo"] = releasable_claims(data.get("claims"), "userinfo", scopes)
        if record["nonce"]:
            ttl = current_app.config["CODE_TTL"] + current_app.config["ID_TOKEN_TTL"]
            store().add(nonce_key(record["client_id"], record["nonce"]), "1", ttl)
        # FAPI 2.0 5.3.2.1: codes of the profile's clients live at most 60 seconds.
        ttl = current_app.config["CODE_TTL"]
        save_code(code, record, min(ttl, FAPI2_CODE_TTL) if request.client.fapi2 else ttl)

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        requested_resource(self.request.payload.datalist.get("resource"),
                           redirect_uri=redirect_uri, state=self.request.payload.state)
        return redirect_uri

    def validate_token_request(self):
        super().validate_token_request()
        # RFC 8707 2.2: the token's resource is the one authorized at /authorize, if any.
        authorized = self.request.authorization_code.data.get("resource")
        asked = getattr(self.request, "resource", None)
        if asked and authorized and asked != authorized:
            raise InvalidTargetError("The resource was not authorized.")
        self.request.resource = asked or authorized
        bound = self.request.authorization_code.data.get("dpop_jkt")
        if bound and bound != getattr(self.request, "dpop_jkt", None):
            raise InvalidGrantError("The code is bound to another DPoP key.")

    def query_authorization_code(self, code, client):
        return consume_code(code, client)

    def delete_authorization_code(self, authorization_code):
        pass  # already taken out of the store by query_authorization_code

    def authenticate_user(self, authorization_code):
        return query_user(authorization_code.user_id)

    def create_token_response(self):
        result = super().create_token_response()
        db.session.commit()  # the refresh token added by save_token
        return result


class OpenIDCode(oidc_grants.OpenIDCode):
    """The ID token: signed with the active key of the client's algorithm."""

    def exists_nonce(self, nonce, request):
        return store().get(nonce_key(request.payload.client_id, nonce)) is not None

    def resolve_client_private_key(self, client):
        return current_app.extensions["idp_keys"].signing_key(self.get_client_algorithm(client))

    def get_client_algorithm(self, client):
        return client.id_token_signed_response_alg or "RS256"

    def get_encode_header(self, client):
        key = self.resolve_client_private_key(client)
        return {"alg": self.get_client_algorithm(client), "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client):
        now = int(time.time())
        return {"iss": current_app.config["ISSUER"], "aud": client.client_id,
                "iat": now, "exp": now + current_app.config["ID_TOKEN_TTL"]}

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = authorization_code.data["sid"]
        asked = authorization_code.data.get("claims_id_token")
        if asked:  # individual claims requested for the ID token (OIDC Core 5.5)
            user = query_user(authorization_code.user_id)
            if user is not None:
                claims.update(user_claims(user, "", extra=asked))
        return claims

    def generate_user_info(self, user, scope):
        return user_claims(user, scope)


# Built once (see tokens.py); on the table, so no ORM bulk-update bookkeeping.
_refresh_tokens = RefreshToken.__table__
ROTATE_REFRESH_TOKEN = (
    db.update(_refresh_tokens)
    .where(_refresh_tokens.c.id == db.bindparam("row_id"), _refresh_tokens.c.rotated_at.is_(None))
    .values(rotated_at=db.bindparam("now")))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_OR_PUBLIC
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token):
        row = query_refresh_token(refresh_token)
        if row is None or row.revoked_at is not None or row.is_expired():
            return None
        if query_user(row.user_id) is None:
            return None  # invalid_grant, as for any token that no longer works
        if row.rotated_at is not None:
            self._reuse_detected(row)
            return None
        if row.jkt and row.jkt != getattr(self.request, "dpop_jkt", None):
            return None  # bound to a DPoP key (RFC 9449 5): a proof of that key is needed
        return row

    def authenticate_user(self, refresh_token):
        return query_user(refresh_token.user_id)

    def validate_token_request(self):
        super().validate_token_request()
        # RFC 8707 2.2: a refresh keeps to the resource the grant was for.
        authorized = self.request.refresh_token.resource
        asked = getattr(self.request, "resource", None)
        if asked and authorized and asked != authorized:
            raise InvalidTargetError("The resource was not authorized.")
        self.request.resource = asked or authorized

    def issue_token(self, user, refresh_token):
        # FAPI 2.0 5.3.2.1: no rotation for the profile's clients (their refresh
        # tokens only work with their private_key_jwt authentication anyway).
        scope = self.request.payload.scope or refresh_token.get_scope()
        return self.generate_token(user=user, scope=scope,
                                   include_refresh_token=not self.request.client.fapi2)

    def revoke_old_credential(self, refresh_token):
        if self.request.client.fapi2:
            return  # not rotated: it stays valid until it expires or is revoked
        # Conditional update: of two concurrent refreshes only one may win.
        done = db.session.execute(
            ROTATE_REFRESH_TOKEN, {"row_id": refresh_token.id, "now": utcnow()}).rowcount
        if done != 1:
            db.session.rollback()
            self._reuse_detected(refresh_token)
            raise InvalidGrantError("Refresh token already used.")
        db.session.commit()

    def _reuse_detected(self, row):
        revoke_family(row.family)
        audit.record("refresh_token_reused", user_id=row.user_id,
                     actor="client:" + row.client_id, family=row.family)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS
