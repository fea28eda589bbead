"""Alembic migrations of the audit database (shipped as package data; run by `sirolimus-cds db upgrade`)."""
