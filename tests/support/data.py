"""Small roster data sets shaped as the sources document them; they live with the local sample
sources (``rostersync serve --with-sample-sources``) and are shared by the connector tests."""

from rostersync_tools.local.sample_data import clever_district, oneroster_collections

__all__ = ["clever_district", "oneroster_collections"]
