"""Pulled API pages into the same raw tables the CSV readers produce.

Pages are read by :mod:`rostersync.connectors.jsonpages`; :mod:`.oneroster_map` hands OneRoster
1.1 REST records to the OneRoster CSV reader's public entry point (so every CSV rule applies to
pulled data) and :mod:`.clever_map` maps Clever API v3 records. Only public functions of
``rostersync.formats`` are used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rostersync.connectors.clever_map import FORMAT_CLEVER_API, clever_raw
from rostersync.connectors.jsonpages import read_page
from rostersync.connectors.oneroster_map import FORMAT_ONEROSTER_11_REST, oneroster_raw
from rostersync.connectors.pages import PullManifest
from rostersync.formats.raw import RawRoster
from rostersync.storage import BlobStore

READERS: dict[str, Callable[[BlobStore, PullManifest], RawRoster]] = {
    "clever": clever_raw,
    "oneroster": oneroster_raw,
}


def pulled_raw(store: BlobStore, manifest: PullManifest) -> RawRoster:
    """The raw roster of an API pull (Clever or OneRoster)."""
    return READERS[manifest.kind](store, manifest)


__all__: Sequence[str] = ("FORMAT_CLEVER_API", "FORMAT_ONEROSTER_11_REST", "pulled_raw", "read_page")
