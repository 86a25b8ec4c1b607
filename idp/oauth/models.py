"""OAuth clients, refresh tokens and consents (the durable half of OAuth state;
codes and access tokens live in the short-lived store)."""

import hashlib
import hmac
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from sqlalchemy import JSON, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import utcnow

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def digest(secret):
    """SHA-256 of a high-entropy secret: fast on purpose (see the README)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class OAuthClient(db.Model, ClientMixin):
    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_digest: Mapped[str | None] = mapped_column(String(64))  # None: public client
    name: Mapped[str] = mapped_column(String(120))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(String(255), default="openid profile email phone")
    min_acr: Mapped[str | None] = mapped_column(String(64))
    first_party: Mapped[bool] = mapped_column(default=False)  # no consent screen
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(10), default="RS256")
    # FAPI 2.0 pieces (``client_auth.py``, ``par.py``, ``dpop.py``, ``profiles.py``).
    # None: "none" for public clients, a secret method (basic or post) otherwise.
    token_endpoint_auth_method: Mapped[str | None] = mapped_column(String(32))
    jwks: Mapped[dict | None] = mapped_column(JSON)  # public keys for private_key_jwt
    jwks_uri: Mapped[str | None] = mapped_column(String(2048))
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        default=False, server_default=false())
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(default=False,
                                                           server_default=false())
    profile: Mapped[str | None] = mapped_column(String(16))  # "fapi2" or None
    # OpenID Connect Back-Channel Logout 1.0 (``backchannel.py``).
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2048))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        default=False, server_default=false())
    # RFC 7591/7592 (``registration.py``): set for clients registered over the API.
    registration_token_digest: Mapped[str | None] = mapped_column(String(64))
    # Descriptive registration metadata we keep but do not act on (client_uri, contacts, …).
    extra_metadata: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def public(self):
        if self.token_endpoint_auth_method:
            return self.token_endpoint_auth_method == "none"
        return self.secret_digest is None

    @property
    def auth_method(self):
        """The registered client authentication method (RFC 7591 names)."""
        if self.token_endpoint_auth_method:
            return self.token_endpoint_auth_method
        return "none" if self.public else "client_secret_basic"

    @property
    def fapi2(self):
        return self.profile == "fapi2"

    @property
    def client_metadata(self):
        return {
            "client_name": self.name,
            "redirect_uris": self.redirect_uris,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
            "grant_types": self.grant_types,
            "response_types": ["code"],
            "scope": self.scope,
            "token_endpoint_auth_method": self.auth_method,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
            "require_pushed_authorization_requests":
                self.require_pushed_authorization_requests,
            "dpop_bound_access_tokens": self.dpop_bound_access_tokens,
        }

    # Authlib's ClientMixin
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # Only unambiguous when exactly one is registered (RFC 6749 3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope):
        allowed = set(scope_to_list(self.scope))
        return " ".join(s for s in scope_to_list(scope or "") if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact match, RFC 9700 2.1

    def check_client_secret(self, client_secret):
        if self.secret_digest is None or not client_secret:
            return False
        return hmac.compare_digest(self.secret_digest, digest(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        if self.auth_method in SECRET_METHODS:
            return method in SECRET_METHODS
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


class RefreshToken(db.Model):
    """A refresh token, stored as a digest. Rotation keeps a family: presenting
    an already rotated token revokes the whole family (RFC 9700 4.14.2)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(255))
    auth_time: Mapped[int] = mapped_column()
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    jkt: Mapped[str | None] = mapped_column(String(64))  # DPoP key of a public client
    # The resource server (RFC 8707) its access tokens are for: a refresh can
    # never name another.
    resource: Mapped[str | None] = mapped_column(String(2048))

    # Authlib's TokenMixin, as far as the refresh grant and endpoints use it
    def get_scope(self):
        return self.scope

    def check_client(self, client):
        return self.client_id == client.get_client_id()

    def is_expired(self):
        return self.expires_at <= utcnow()

    def is_revoked(self):
        return self.revoked_at is not None or self.rotated_at is not None


class Consent(db.Model):
    """Scopes a person has allowed a third-party client."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (db.UniqueConstraint("user_id", "client_id"),)


class InitialAccessToken(db.Model):
    """An operator's permission to register clients at the registration
    endpoint (RFC 7591 3): stored as a digest, expiring, with a use count."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    uses_left: Mapped[int] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128))
    first_party: Mapped[bool] = mapped_column(default=False, server_default=false())
