"""The admin console: server-rendered pages (Jinja2, autoescaped; plain forms, POST → redirect
→ GET, no script) where district admins and operators see their districts' schools and held
syncs and decide, served by the API function under ``/console`` of the same API Gateway.

Pages call the release API's services (:mod:`rostersync.api.services`) with the signed-in
caller: the same scope, rules and audit as the JSON API. Sign-in is OAuth 2.0 authorization
code with PKCE (:mod:`rostersync.console.signin`; Cognito's Hosted UI on AWS), the session a
cookie holding the ID token (:mod:`rostersync.console.session`). docs/console.md.
"""

from rostersync.console.app import create_console_app
from rostersync.console.web import PREFIX

__all__ = ["PREFIX", "create_console_app", "is_console_path"]


def is_console_path(path: str) -> bool:
    """Whether a request path is the console's (``/console`` and below)."""
    return path == PREFIX or path.startswith(f"{PREFIX}/")
