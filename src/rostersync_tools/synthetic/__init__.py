"""Seeded synthetic K-12 districts for tests, the demo and the benchmark.

:func:`generate_district` (``generator.py``) builds a district directly in the canonical model (one
Arrow table per entity, :mod:`rostersync.model`) with the proportions of a large US district (per
600k students: ~400 schools, ~35k teachers, ~2k staff, ~1.2M contact rows, ~150k sections, ~6M
enrollments). :func:`make_day2`, :func:`drop_school_students` and :func:`add_emergency_contacts`
(``days.py``) derive the next nightly sync from it. One writer module per format renders a district
as the files a district drops on SFTP: :func:`write_clever_csv`, :func:`write_oneroster_csv` (1.1
and 1.2) and :func:`write_sds_csv` (Microsoft School Data Sync v2.1). Everything is vectorised with
numpy and Arrow (no Python loop over rows), so the largest size takes seconds, and every output is
a pure function of the seeds.

Canonical value conventions (what a reader should produce from the written files): grades are
CEDS codes (``PK``, ``KG``, ``01``..``12``; Clever files spell them ``PreKindergarten``,
``Kindergarten``, ``1``..``12``), genders ``female``/``male``/``other`` (Clever files: ``F``/``M``/``X``),
``phone_extension`` and the ``*_raw`` columns (the values as sent) are null,
subjects use Clever's subject vocabulary, contact names are split into first and last name
(Clever's ``Contact_name`` is "First Last"). A contact's school is the school of its first student;
siblings always share a school, so that is the same whichever sibling comes first. OneRoster and SDS
have no contact type: their writers drop it and map the relationship to the contact's role.
"""

from rostersync_tools.synthetic.clever import write_clever_csv
from rostersync_tools.synthetic.days import add_emergency_contacts, drop_school_students, make_day2
from rostersync_tools.synthetic.district import SyntheticDistrict
from rostersync_tools.synthetic.generator import generate_district
from rostersync_tools.synthetic.oneroster import OneRosterVersion, write_oneroster_csv
from rostersync_tools.synthetic.sds import write_sds_csv
from rostersync_tools.synthetic.vocab import GENERATOR_VERSION

__all__ = [
    "GENERATOR_VERSION",
    "OneRosterVersion",
    "SyntheticDistrict",
    "add_emergency_contacts",
    "drop_school_students",
    "generate_district",
    "make_day2",
    "write_clever_csv",
    "write_oneroster_csv",
    "write_sds_csv",
]
