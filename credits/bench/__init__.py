"""Benchmarks: commands that print figures (never timed assertions in the test suite).

    python -m credits.bench ledger [--entries N] [--workers C] [--scenario transfer|earn|redeem]

Each writes to a scratch database it creates (``credits_bench`` on the local PostgreSQL by
default, or ``--database-url``) and prints throughput and latency percentiles as the median
of ``--runs`` runs, because this machine is shared and noisy.
"""
