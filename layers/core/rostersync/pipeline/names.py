"""What emails call a district and its schools: names from the settings and the roster, and the
console link where the admin acts (no stage of its own).

A district is named by its settings' ``name``; a school by the ``name`` of the schools table of
the district's latest accepted version ("Adams Elementary"). An id without a name stays an id.
The link is ``<CONSOLE_BASE_URL>/districts/<d>/syncs/<sync_id>`` when the deployment sets a
console base URL, else none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rostersync.model import ENTITY_BY_NAME
from rostersync.pipeline.layout import district_prefix
from rostersync.pipeline.ports import Deps
from rostersync.snapshot import SnapshotError, latest_version, read_entity, read_manifest, version_prefix
from rostersync.storage import BlobNotFoundError


@dataclass(frozen=True)
class Names:
    district: str
    schools: dict[str, str] = field(default_factory=dict)
    link: str | None = None

    def school(self, school_id: str | None) -> str:
        if school_id is None:
            return "District-wide"
        name = self.schools.get(school_id)
        return f"{name} ({school_id})" if name else school_id

    def schools_text(self, school_ids: list[str]) -> str:
        return ", ".join(self.school(s) for s in school_ids)


def console_link(base_url: str | None, district_id: str, sync_id: str) -> str | None:
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/districts/{district_id}/syncs/{sync_id}"


def names_of(deps: Deps, district_id: str, sync_id: str | None = None) -> Names:
    """The names of ``district_id`` and its schools, and the console link of ``sync_id`` (none
    without one). Only the latest version's schools table is read."""
    settings = deps.repo.get_settings(district_id)
    schools: dict[str, str] = {}
    prefix = district_prefix(district_id)
    try:
        version = latest_version(deps.snapshots, prefix)
        if version is not None:
            found = version_prefix(deps.snapshots, prefix, version)
            manifest = read_manifest(deps.snapshots, found)
            if "schools.parquet" in manifest.files:
                table = read_entity(deps.snapshots, found, manifest, ENTITY_BY_NAME["schools"])
                ids, names = table.column("school_id").to_pylist(), table.column("name").to_pylist()
                schools = {str(i): str(n) for i, n in zip(ids, names, strict=True) if i and n}
    except (SnapshotError, BlobNotFoundError, KeyError):
        schools = {}
    return Names(
        district=settings.name or district_id,
        schools=schools,
        link=console_link(deps.config.console_base_url, district_id, sync_id) if sync_id else None,
    )
