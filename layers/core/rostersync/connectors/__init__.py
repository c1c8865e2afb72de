"""Source connectors: pull a district's roster from the Clever API v3, a OneRoster 1.1 REST
provider or the district's own SFTP site (see ``docs/connectors.md``).

This package is the adapter of the :class:`~rostersync.pipeline.ports.SourcePuller` port
(:mod:`.puller`), the only code that imports ``requests``, ``requests-oauthlib`` or ``paramiko``
(in the client modules ``http``, ``clever``, ``oneroster``, ``sftp``, which the puller imports
only when a pull of their kind runs). The source settings models live in :mod:`rostersync.sources`
and the errors a source raises in :mod:`rostersync.pipeline.ports`, so the settings and the API
never import this package.
"""
