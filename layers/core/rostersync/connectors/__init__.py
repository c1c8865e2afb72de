"""Source connectors: pull a district's roster from the Clever API v3, a OneRoster 1.1 REST
provider or the district's own SFTP site (see ``docs/connectors.md``).

Only the client modules (``http``, ``clever``, ``oneroster``, ``sftp``) import ``requests``,
``requests-oauthlib`` or ``paramiko``; this package's root and :mod:`.sources` (the settings
models) import nothing heavy, so the settings and the API never pull them in.
"""
