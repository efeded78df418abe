"""The case store: models, connecting and migrating (SQLite and PostgreSQL), the inline SQLite
engine, evidence files, backups, case numbers, push receipts, idempotency records and
import/export. Imports nothing else of `cases/` but the shared leaves."""
