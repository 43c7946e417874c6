"""Running the scheme safely: backups and restores, the record of maintenance runs, the
figures a monitoring system scrapes (credits/api/monitoring.py serves them).

- :mod:`credits.operations.runs` — record a `credits verify` or backup run; read the latest.
- :mod:`credits.operations.figures` — what ``GET /metrics`` reports from the database.
- :mod:`credits.operations.backup` and :mod:`credits.operations.restore` — `credits backup`
  and `credits restore` (docs/operations.md).
"""
