"""Alembic environment and revisions of the lineage schema (run through ``autotest_lib.registry.migrate``)."""
