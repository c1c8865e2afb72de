"""The release API (API Gateway REST → ``functions/api``): holds, decisions, downloads, settings,
pause windows, school status, versions, rollback and audit, authorized per district.

:func:`create_app` builds the Powertools resolver; routes live in :mod:`rostersync.api.routes`,
what they do in :mod:`rostersync.api.services`, who may do it in :mod:`rostersync.api.auth`.
This package never imports pyarrow: the API function ships without that layer.
"""

from rostersync.api.resolver import create_app, openapi_document, openapi_text

__all__ = ["create_app", "openapi_document", "openapi_text"]
