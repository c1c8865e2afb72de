"""The one home of the tests' doubles and helpers.

- ``aws_fakes``: the roster table as template.yaml declares it (created in moto), a workflow that
  records starts and callbacks, a fixed clock, a Lambda context with the fields Powertools reads.
- ``pipeline_helpers`` / ``api_helpers``: the moto-backed deployment the pipeline and release API
  unit tests run against (re-exported as fixtures by tests/unit/pipeline and tests/unit/api).
- ``clever_server``, ``oneroster_server``, ``sftp_server`` (on ``httpbase``) and their ``data``:
  local stand-ins for the roster sources (Clever API v3, OneRoster 1.1 REST, an SFTP site). Each
  listens on 127.0.0.1 only, on a free port, in daemon threads, and stops when its context manager
  exits or, failing that, after ``lifetime`` seconds, so a broken test never leaves a server
  behind. They follow the public documentation of the real services: Clever's ``links``/``rel:
  next`` paging with ``starting_after``, OneRoster's ``limit``/``offset`` with ``X-Total-Count``
  and OAuth 1.0a signatures verified by oauthlib, SSH/SFTP by paramiko's server interfaces. They
  open sockets, so only tests/integration uses them.
"""
