"""OneRoster 1.1 REST client (IMS binding, ``/ims/oneroster/v1p1/``), e.g. ClassLink Roster Server.

Collections page with ``limit``/``offset``; the provider's ``X-Total-Count`` header says when to
stop (without it, a short page does). Each response is an envelope named after the collection
(``{"users": [...]}``), whose records are stored as they are. Authentication is OAuth 1.0a
two-legged with HMAC-SHA256 signatures (requests-oauthlib signs every request, query included) or
OAuth 2 (a stored bearer token, or the client-credentials grant at ``token_url``). 429 and 5xx
answers, also in the middle of a collection, are retried by :class:`HttpClient` before the offset
moves on, so a throttled pull neither skips nor repeats a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from requests_oauthlib import OAuth1, OAuth2Session

from rostersync.connectors.http import HttpClient, SourceRequestError
from rostersync.connectors.pages import PageWriter
from rostersync.pipeline.ports import CredentialsError, DisconnectedError, SourceConfigError

KIND = "oneroster"
ROOT = "ims/oneroster/v1p1/"
# Collection endpoint -> envelope key (the same in OneRoster 1.1).
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments", "demographics")
# Optional in the binding: a provider without it answers 404, and the entity is left out.
OPTIONAL = frozenset({"demographics"})
MAX_PAGES = 100_000


def oauth1(client_id: str, client_secret: str) -> OAuth1:
    """Two-legged OAuth 1.0a (no token) with HMAC-SHA256, parameters in the Authorization header."""
    return OAuth1(
        client_id,
        client_secret=client_secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )


def client_credentials_token(
    token_url: str, client_id: str, client_secret: str, timeout: float = 30.0
) -> str:
    """An OAuth 2 access token from the client-credentials grant."""
    session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
    try:
        token = session.fetch_token(
            token_url, client_id=client_id, client_secret=client_secret, timeout=timeout
        )
    except OAuth2Error as exc:
        raise CredentialsError(f"the OneRoster token endpoint refused the client: {exc.error}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise DisconnectedError(f"cannot reach the OneRoster token endpoint: {type(exc).__name__}") from None
    access = token.get("access_token")
    if not access:
        raise CredentialsError("the OneRoster token endpoint returned no access token")
    return str(access)


class OneRosterClient:
    """Reads a OneRoster 1.1 REST provider at ``base_url`` (the part before ``/ims/``)."""

    def __init__(
        self,
        base_url: str,
        http: HttpClient | None = None,
        *,
        auth: requests.auth.AuthBase | None = None,
        token: str | None = None,
        page_size: int = 1000,
    ) -> None:
        if auth is None and token is None:
            raise SourceConfigError("OneRoster needs OAuth 1.0a credentials or an OAuth 2 token")
        self.root = urljoin(base_url.rstrip("/") + "/", ROOT)
        self.page_size = page_size
        self.http = http or HttpClient(source="the OneRoster provider")
        self.http.session.headers["Accept"] = "application/json"
        if auth is not None:
            self.http.session.auth = auth
        if token is not None:
            self.http.session.headers["Authorization"] = f"Bearer {token}"

    def pages(self, collection: str) -> Iterator[list[dict[str, Any]]]:
        """The records of each page of ``collection``, in offset order."""
        url = self.root + collection
        offset = 0
        for _ in range(MAX_PAGES):
            body, response = self.http.get_json(url, {"limit": self.page_size, "offset": offset})
            records = body.get(collection) if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise DisconnectedError(f"the OneRoster provider sent no {collection!r} list")
            yield records
            total_header = response.headers.get("X-Total-Count")
            offset += len(records)
            if not records:
                return
            if total_header is not None and total_header.strip().isdigit():
                if offset >= int(total_header):
                    return
            elif len(records) < self.page_size:
                return
        raise DisconnectedError(f"the OneRoster paging of {collection} does not end")

    def pull(self, writer: PageWriter) -> None:
        for collection in COLLECTIONS:
            writer.entity(collection)
            try:
                for page in self.pages(collection):
                    writer.write(collection, page)
            except SourceRequestError as exc:
                if collection not in OPTIONAL or exc.status != 404:
                    raise
                del writer.manifest.entities[collection]
