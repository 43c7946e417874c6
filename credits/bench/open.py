"""`python -m credits.bench open`: requests/s for the public record under gunicorn, beside
``/healthz`` in the same run.

1. Seeds a scratch database (PostgreSQL ``credits_bench_open``, recreated; or SQLite with
   ``--database-url sqlite:///...``): the demo scheme, credits earned by its members in each
   of the ``--months`` months before this one, then closes those months in order (every
   check, the snapshot and the public figures, as an officer would).
2. Serves the app as production does: ``gunicorn -c deploy/gunicorn.conf.py
   credits.wsgi:app`` (sync workers; the access log off).
3. Drives each URL with ``wrk`` (a C load generator, so the clients do not eat the server's
   CPU as a Python client would) from C connections for D seconds, the URLs taking turns in
   each of ``--runs`` rounds: ``/healthz`` (no database: the ceiling of this server), then
   ``/open`` (the HTML page), ``/api/v1/open/months`` and ``/api/v1/open/YYYY-MM`` (JSON)
   and its CSV. Prints the median requests/s and latency of each, and its ratio to
   ``/healthz``; any answer that is not 2xx is counted and reported.

Every public-record request reads the record's stamp from the database (one query) and
serves bytes it built before: the figure shows what that costs next to a request that
touches nothing. Needs ``wrk`` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from credits.bench.common import machine, scratch_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_open"


def seed(url: str, instance: Path, months: int, members: int) -> str:
    """Seed and close ``months`` months; returns the latest closed month (``YYYY-MM``)."""
    from credits import audit, ledger
    from credits.demo import seed as demo_seed
    from credits.ledger import Month
    from credits.services import Services
    from credits.statements.close import close_month

    svc = Services.build({"DATABASE_URL": url, "INSTANCE_PATH": str(instance)})
    try:
        demo = demo_seed(svc, members=members)
        now = datetime.now(UTC)
        this = Month.containing(now)
        closing = [this]
        for _ in range(months):
            closing.insert(0, closing[0].previous())
        closing = closing[:-1]

        def earn(s: Any, month: Month) -> None:
            issuance = ledger.scheme_account(s, ledger.ISSUANCE).id
            middle = month.starts_at + (month.ends_at - month.starts_at) / 2
            accounts = s.execute(
                text("SELECT id FROM account WHERE type = 'member' ORDER BY id LIMIT :n"),
                {"n": members},
            ).all()
            for i, (account_id,) in enumerate(accounts):
                amount = 5 + i % 20
                ledger.post_entry(
                    s,
                    ledger.EntryRequest(
                        kind=ledger.EntryKind.EARN,
                        legs=(ledger.Leg(issuance, -amount), ledger.Leg(account_id, amount)),
                        memo="bench credits",
                        actor="bench",
                        idempotency_key=f"bench-open:{month}:{account_id}",
                        occurred_at=middle,
                    ),
                )

        for month in closing:
            svc.db.run(lambda s, m=month: earn(s, m))
        actor = audit.Actor("cli:bench")
        for month in closing:
            svc.db.run(lambda s, m=month: close_month(s, actor, m, now=now))
        assert demo["officer"]["email"]
        return str(closing[-1])
    finally:
        svc.close()


def run_wrk(url: str, clients: int, seconds: float) -> dict[str, float]:
    """One wrk run of GET ``url``: requests/s, p50 and p99 (ms), answers not 2xx/3xx."""
    proc = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    out = proc.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk said: {out}\n{proc.stderr}")

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        print(f"      wrk: {errors.group(0)}")
    return {
        "per_s": float(rate.group(1)),
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "not_ok": float(bad.group(1)) if bad else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m credits.bench open",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections (16)")
    parser.add_argument("--duration", type=float, default=5, help="seconds per run (5)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median is reported (3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--months", type=int, default=12, help="closed months to publish (12)")
    parser.add_argument("--members", type=int, default=200, help="demo members (200)")
    parser.add_argument("--database-url", default=None, help=f"scratch database ({DEFAULT_URL})")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    url = scratch_database(args.database_url or DEFAULT_URL)
    workdir = Path(tempfile.mkdtemp(prefix="credits-bench-open-"))
    instance = workdir / "instance"
    print(f"open benchmark — {machine()}")
    t0 = time.perf_counter()
    latest = seed(url, instance, args.months, args.members)
    print(
        f"database: {url.split('@')[-1]}; {args.months} closed months ({args.members} members) "
        f"seeded and closed in {time.perf_counter() - t0:.1f} s; {args.clients} connections, "
        f"{args.workers} gunicorn sync workers, {args.duration:.0f} s per run, median of "
        f"{args.runs} rounds"
    )
    port = 20000 + secrets.randbelow(20000)
    env = {
        **os.environ,
        "CREDITS_DATABASE_URL": url,
        "CREDITS_INSTANCE_PATH": str(instance),
        "CREDITS_BIND": f"127.0.0.1:{port}",
        "CREDITS_WORKERS": str(args.workers),
        "CREDITS_ACCESS_LOG": "",
    }
    with (workdir / "gunicorn.log").open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "credits.wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    paths = {
        "/healthz (baseline)": "/healthz",
        "/open (HTML)": "/open",
        f"/open/{latest} (HTML)": f"/open/{latest}",
        "/api/v1/open/months (JSON)": "/api/v1/open/months",
        f"/api/v1/open/{latest} (JSON)": f"/api/v1/open/{latest}",
        f"/api/v1/open/{latest}?format=csv": f"/api/v1/open/{latest}?format=csv",
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        for path in paths.values():  # warm every worker's cache
            run_wrk(base + path, args.clients, 1)
        for n in range(args.runs):
            for name, path in paths.items():
                result = run_wrk(base + path, args.clients, args.duration)
                results[name].append(result)
                print(
                    f"    round {n + 1}: {name:40s} {result['per_s']:8.0f} req/s, p50 "
                    f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms",
                    flush=True,
                )
    finally:
        server.terminate()
        try:
            server.wait(30)  # gunicorn's graceful timeout is 20 s
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    baseline = statistics.median(r["per_s"] for r in results["/healthz (baseline)"])
    print(f"  {'URL':44s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'of /healthz':>11s}")
    for name, runs in results.items():
        per_s = statistics.median(r["per_s"] for r in runs)
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        not_ok = sum(r["not_ok"] for r in runs)
        print(
            f"  {name:44s} {per_s:8.0f} {p50:7.1f} {p99:7.1f} {per_s / baseline:10.0%}"
            + (f"  ({not_ok:.0f} answers not 2xx!)" if not_ok else "")
        )
