"""How the admin console signs people in: OAuth 2.0 authorization code with PKCE.

:class:`SignIn` is the port the console's pages use; :class:`CognitoSignIn` is its AWS adapter:
the Cognito Hosted UI of the stack's user pool (``/oauth2/authorize``, ``/oauth2/token``) and
the verification of the ID token it returns against the pool's published keys (RS256, issuer,
audience = the console's app client, ``token_use`` = id, expiry), which is what API Gateway's
Cognito authorizer checks for the JSON API. The verified claims become a
:class:`~rostersync.api.auth.Caller` exactly as the authorizer's do. The local product hands in
its own adapter (``rostersync_tools.local.signin``) through :mod:`rostersync.runtime`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

SIGN_IN_PARAMETER_ENV = "CONSOLE_SIGN_IN_PARAMETER"
TOKEN_TIMEOUT_SECONDS = 10
SCOPES = "openid email profile"

Claims = dict[str, Any]


class SignInError(RuntimeError):
    """The identity provider could not be reached or refused the exchange."""


class SignIn(Protocol):
    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str) -> str:
        """Where the browser is sent to sign in (it comes back to ``redirect_uri`` with a code)."""
        ...

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> str | None:
        """The ID token for ``code`` (None: the code is not valid, or the verifier does not match)."""
        ...

    def verify(self, token: str) -> Claims | None:
        """The claims of a valid, unexpired ID token; None otherwise."""
        ...


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43-128 characters of the unreserved set)."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """The S256 challenge of ``verifier``: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class CognitoSignIn:
    """The Cognito Hosted UI of ``user_pool_id`` at ``domain`` (``https://<prefix>.auth.<region>
    .amazoncognito.com``) for the app client ``client_id``."""

    domain: str
    client_id: str
    user_pool_id: str
    region: str
    _jwks: jwt.PyJWKClient | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.domain.rstrip('/')}/oauth2/authorize?{query}"

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> str | None:
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        ).encode("ascii")
        request = urllib.request.Request(
            f"{self.domain.rstrip('/')}/oauth2/token",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            # The stack's own Cognito domain (configuration, never a request's value).
            with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT_SECONDS) as response:  # nosec B310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 400:  # invalid_grant: a used, expired or foreign code
                return None
            raise SignInError(f"the sign-in service answered {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise SignInError("the sign-in service could not be reached") from exc
        token = answer.get("id_token") if isinstance(answer, dict) else None
        return str(token) if token else None

    def verify(self, token: str) -> Claims | None:
        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(f"{self.issuer}/.well-known/jwks.json", cache_keys=True)
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: Claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientError as exc:
            if "Unable to find a signing key" in str(exc):
                return None
            raise SignInError("the user pool's signing keys could not be read") from exc
        except jwt.InvalidTokenError:
            return None
        return claims if claims.get("token_use") == "id" else None


def build_sign_in() -> CognitoSignIn:
    """The Lambda adapter, from the SSM parameter the stack writes (template.yaml,
    ``ConsoleSignInParameter``: the app client is created after the API, so its id cannot be an
    environment variable of the API function without a circular dependency)."""
    from rostersync.aws import clients

    name = os.environ.get(SIGN_IN_PARAMETER_ENV)
    if not name:
        raise SignInError(f"{SIGN_IN_PARAMETER_ENV} is not set: the console has no sign-in configured")
    value = clients.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    config = json.loads(value)
    return CognitoSignIn(
        domain=str(config["domain"]),
        client_id=str(config["client_id"]),
        user_pool_id=str(config["user_pool_id"]),
        region=str(config.get("region") or os.environ.get("AWS_REGION", "us-east-1")),
    )
