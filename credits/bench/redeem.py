"""`python -m credits.bench redeem`: redemptions per second over HTTP, and the bare SQL.

1. Seeds a scratch PostgreSQL database (``credits_bench_redeem``, recreated): the demo
   scheme with M members holding credits, then enough open vouchers (issued through the
   vouchers use case, in parallel processes).
2. Serves the app exactly as production does: ``gunicorn -c deploy/gunicorn.conf.py
   credits.wsgi:app`` (sync workers; the access log off).
3. Drives ``POST /api/v1/redemptions`` from C concurrent connections with ``wrk`` (a C load
   generator, so the clients do not eat the server's CPU as a Python client would), every
   request redeeming a different voucher with the demo terminal's token, for D seconds, after
   a warm-up. Prints redemptions/s and p50/p99 latency (median of --runs runs), and counts
   any answer that is not 201.
4. In the same run, calls the bare SQL of one redemption (``redeem_voucher(...)``) from C
   Python processes on the same database, and prints its rate and the ratio.
5. Accounts the CPU each kind of process used during the HTTP runs (gunicorn workers,
   PostgreSQL backends, wrk): milliseconds of CPU per redemption, which is what limits a
   2-core machine.

6. ``--servers N --pooler pgbouncer``: measures that set-up too, in the same run and on the
   same database, beside the single-server, direct baseline: N gunicorn instances (own
   instance folders, the same keys), each driven by its own ``wrk`` with a share of the
   connections, through a PgBouncer in transaction pooling the bench starts itself
   (``CREDITS_DATABASE_POOLER=pgbouncer``). PgBouncer's CPU is counted too.

``--own-cluster`` runs everything on a PostgreSQL cluster the bench starts in a temporary
folder (and stops), instead of the local server.

Needs ``wrk`` (Debian: apt-get install wrk), PostgreSQL, and for ``--pooler pgbouncer``
Debian's ``pgbouncer``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from credits.bench.common import machine, percentile, scratch_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_redeem"
VOUCHERS_PER_MEMBER = 45  # below the 50-open-vouchers-per-member limit
FACE = 20

WRK_SCRIPT = r"""
local codes = {}
local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN")
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local threads = {}
local tid = 0
local next_index = 0
errors = 0  -- global: done() reads it from each thread with thread:get
sample = nil

function setup(thread)
  thread:set("id", tid)
  tid = tid + 1
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
  next_index = id + 1
end

function request()
  local code = codes[next_index]
  if code == nil then code = "CC1:EXHAUSTED" end
  local key = run .. '-' .. id .. '-' .. next_index
  local body = '{"code":"' .. code .. '","idempotency_key":"' .. key .. '"}'
  next_index = next_index + nthreads
  return wrk.format("POST", "/api/v1/redemptions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  if status ~= 201 then
    errors = errors + 1
    if sample == nil then sample = status .. " " .. body end
  end
end

function done(summary, latency, requests)
  local total_errors = 0
  for _, t in ipairs(threads) do total_errors = total_errors + t:get("errors") end
  io.write(string.format("BENCH requests=%d errors=%d p50_us=%d p99_us=%d seconds=%.3f\n",
    summary.requests, total_errors, latency:percentile(50), latency:percentile(99),
    summary.duration / 1e6))
  for _, t in ipairs(threads) do
    local s = t:get("sample")
    if s ~= nil then io.write("SAMPLE " .. s .. "\n") end
  end
  io.write(string.format("SOCKET connect=%d read=%d write=%d timeout=%d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


_ISSUE_SQL = (
    "WITH e AS (SELECT entry_id FROM ledger_post('voucher_issue', %(memo)s, %(actor)s, "
    "%(now)s, %(now)s, %(key)s, %(fingerprint)s, NULL, %(accounts)s::bigint[], "
    "%(amounts)s::bigint[], %(lane)s)) "
    "INSERT INTO voucher (id, person_id, account_id, face_value, scheme_id, kid, reference, "
    "state, issued_at, expires_at, issued_by, issue_entry_id) "
    "SELECT %(id)s, %(person)s, %(account)s, %(face)s, %(scheme)s, %(kid)s, %(reference)s, "
    "'open', %(now)s, %(expires)s, %(actor)s, e.entry_id FROM e"
)


def _issue_worker(args: tuple[str, list[tuple[int, int]], int, int, str, int]) -> list[str]:
    """Issue vouchers in bulk: the rows and ledger entries issue_voucher would write (same
    key, memo, fingerprint and fields), one statement each without the unit of work's
    round trips and with synchronous_commit off, so seeding takes seconds, not minutes.
    Seeding only: the benchmark measures redemption."""
    from datetime import timedelta

    import psycopg

    from credits import ledger
    from credits.db import utcnow
    from credits.ledger.posting import request_fingerprint
    from credits.vouchers.code import reference

    dsn, members, outstanding, scheme_id, kid, expiry_days = args
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET synchronous_commit = off")  # seeding only
    ids, rows = [], []
    now = utcnow()
    expires = now.replace(microsecond=0) + timedelta(days=expiry_days)
    for person_id, account_id in members:
        for n in range(VOUCHERS_PER_MEMBER):
            key, memo, actor = (
                f"voucher-issue:{person_id}:bench-{n}",
                f"Voucher of {FACE} credits",
                "system:bench",
            )
            legs = tuple(
                sorted(
                    [ledger.Leg(account_id, -FACE), ledger.Leg(outstanding, FACE)],
                    key=lambda leg: leg.account_id,
                )
            )
            fingerprint = request_fingerprint(
                ledger.EntryRequest(
                    kind=ledger.EntryKind.VOUCHER_ISSUE,
                    legs=legs,
                    memo=memo,
                    actor=actor,
                    idempotency_key=key,
                )
            )
            raw = secrets.token_bytes(16)
            ids.append(raw.hex())
            rows.append(
                {
                    "memo": memo,
                    "actor": actor,
                    "now": now,
                    "key": key,
                    "fingerprint": fingerprint,
                    "accounts": [leg.account_id for leg in legs],
                    "amounts": [leg.amount_credits for leg in legs],
                    "lane": n % 8,
                    "id": raw.hex(),
                    "person": person_id,
                    "account": account_id,
                    "face": FACE,
                    "scheme": scheme_id,
                    "kid": kid,
                    "reference": reference(raw).replace("-", ""),
                    "expires": expires,
                }
            )
    # One statement, one transaction each (executemany would pipeline them into a single
    # implicit transaction holding many lane and slot locks, and deadlock between processes).
    for row in rows:
        conn.execute(_ISSUE_SQL, row, prepare=True)
    conn.close()
    return ids


def seed(url: str, instance: Path, vouchers: int, procs: int) -> tuple[list[str], str, int]:
    """(codes, terminal token, terminal id) for ``vouchers`` fresh open vouchers."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url

    from credits import ledger
    from credits.accounts.models import Person
    from credits.demo import seed as demo_seed
    from credits.services import Services
    from credits.vouchers.models import Voucher
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import code_for

    overrides = {"DATABASE_URL": url, "INSTANCE_PATH": str(instance)}
    members = -(-vouchers // VOUCHERS_PER_MEMBER)
    svc = Services.build(overrides, migrate=True)
    t0 = time.perf_counter()
    demo = demo_seed(svc, members=members, credits=FACE * VOUCHERS_PER_MEMBER)
    emails = [m["email"] for m in demo["members"]]
    rt = runtime(svc.settings)
    with svc.db.read() as s:
        people = [
            (int(p), int(a))
            for p, a in s.execute(
                select(Person.id, Person.ledger_account_id).where(Person.email.in_(emails))  # type: ignore[attr-defined]
            )
        ]
        outstanding = ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id
    print(f"  seeded {members} members in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    kid = rt.keyring.active()[0].kid
    chunks = [people[i::procs] for i in range(procs)]
    with mp.get_context("fork").Pool(procs) as pool:
        ids = [
            v
            for part in pool.map(
                _issue_worker,
                [
                    (dsn, c, outstanding, rt.policy.scheme_id, kid, rt.policy.expiry_days)
                    for c in chunks
                    if c
                ],
            )
            for v in part
        ]
    print(f"  issued {len(ids)} vouchers in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    with svc.db.read() as s:
        # In slices: PostgreSQL takes at most 65,535 parameters in one statement.
        for i in range(0, len(ids), 10_000):
            part = ids[i : i + 10_000]
            rows += s.execute(select(Voucher).where(Voucher.id.in_(part))).scalars()  # type: ignore[attr-defined]
    codes = [code_for(v, rt.keyring) for v in rows]
    random.shuffle(codes)
    shop = demo["shops"][0]
    svc.close()
    return codes, shop["terminal_token"], shop["terminal_id"]


def _cpu_ms(pids: list[int]) -> float:
    """User + system CPU of processes, in milliseconds (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total * 1000 / tick


def _pids(name: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def run_wrk(
    url: str, token: str, codes: list[str], clients: int, seconds: float, workdir: Path
) -> dict[str, float]:
    """One wrk run; returns its figures."""
    threads = 2
    # Files of this run alone: several wrk may run at once (--servers).
    run = f"{time.monotonic_ns()}-{threading.get_ident()}"
    codes_file = workdir / f"codes-{run}.txt"
    codes_file.write_text("\n".join(codes) + "\n")
    script = workdir / f"redeem-{run}.lua"
    script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_CODES": str(codes_file),
        "BENCH_THREADS": str(threads),
        "BENCH_RUN": secrets.token_hex(4),
    }
    proc = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    match = re.search(
        r"BENCH requests=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+) seconds=([\d.]+)",
        proc.stdout,
    )
    if match is None:
        raise RuntimeError(f"wrk said: {proc.stdout}\n{proc.stderr}")
    requests, errors, p50, p99, elapsed = match.groups()
    for line in proc.stdout.splitlines():
        if line.startswith(("SAMPLE", "SOCKET")) and (int(errors) or "=0 " not in line + " "):
            print(f"      wrk: {line[:300]}")
    return {
        "requests": float(requests),
        "errors": float(errors),
        "per_s": int(requests) / float(elapsed),
        "p50_ms": int(p50) / 1000,
        "p99_ms": int(p99) / 1000,
    }


def _sql_worker(args: tuple[str, str, int, list[str], str, int]) -> tuple[float, list[float]]:
    dsn, token_hash, terminal_id, codes, instance, outstanding = args
    import psycopg

    from credits.config import Settings
    from credits.db import utcnow
    from credits.redemption.fast import _SQL
    from credits.redemption.service import RedeemRequest, redeem_memo, scoped_key
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import verify_voucher_code

    keyring = runtime(Settings.load({"INSTANCE_PATH": instance, "DATABASE_URL": "x"})).keyring
    conn = psycopg.connect(dsn, autocommit=True)
    shop = 1
    prepared = []
    for i, code in enumerate(codes):
        claims = verify_voucher_code(keyring, code)
        memo = redeem_memo(claims.voucher_id_hex, shop)
        request = RedeemRequest(code=code, amount=None, client_key=f"sql-{i}")
        prepared.append(
            {
                "token_hash": token_hash,
                "terminal_id": terminal_id,
                "voucher_id": claims.voucher_id_hex,
                "face": claims.face_value,
                "amount": claims.face_value,
                "key": scoped_key(terminal_id, f"sql-{os.getpid()}-{i}"),
                "request_hash": request.fingerprint(),
                "actor": f"terminal:{terminal_id}",
                "now": None,
                "redemption_id": secrets.token_hex(16),
                "memo": memo,
                "memo_json": json.dumps(memo),
                "outstanding": outstanding,
                "lane": i % 8,
            }
        )
    conn.execute("SELECT 1")
    latencies = []
    t0 = time.perf_counter()
    for params in prepared:
        params["now"] = utcnow()
        s = time.perf_counter()
        row = conn.execute(_SQL, params, prepare=True).fetchone()
        latencies.append(time.perf_counter() - s)
        assert row is not None and row[0] == "redeemed", row
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed, latencies


def run_sql(
    url: str, token: str, terminal_id: int, codes: list[str], clients: int, instance: Path
) -> dict[str, float]:
    """The bare SQL of one redemption from ``clients`` Python processes."""
    from sqlalchemy.engine import make_url

    from credits import ledger
    from credits.api.auth import token_digest
    from credits.db import Database, make_engine

    db = Database(make_engine(url))
    with db.read() as s:
        outstanding = ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id
    db.engine.dispose()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    chunks = [codes[i::clients] for i in range(clients)]
    with mp.get_context("fork").Pool(clients) as pool:
        t0 = time.perf_counter()
        results = pool.map(
            _sql_worker,
            [
                (dsn, token_digest(token), terminal_id, c, str(instance), outstanding)
                for c in chunks
            ],
        )
    # Each process measured its own loop (after its set-up); the rate is all redemptions over
    # the slowest loop.
    slowest = max(r[0] for r in results)
    latencies = [x for r in results for x in r[1]]
    del t0
    return {
        "per_s": len(latencies) / slowest,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def _measure(
    label: str,
    url: str,
    instance: Path,
    workdir: Path,
    token: str,
    codes: list[str],
    args: argparse.Namespace,
    *,
    servers: int,
    pooler: str,
    cluster_port: int,
    postgres_pids: Any,
) -> dict[str, float]:
    """Serve with ``servers`` gunicorn instances (through PgBouncer if ``pooler``), run wrk
    (one per server), and return the median figures and CPU per redemption."""
    from sqlalchemy.engine import make_url

    from credits.bench.servers import AppServer, PgBouncer, copy_instance, private_dir

    bouncer = None
    app_url = url
    if pooler == "pgbouncer":
        bouncer = PgBouncer(private_dir("credits-bench-pgbouncer-"), server_port=cluster_port)
        bouncer.start()
        app_url = bouncer.url(make_url(url).database or "postgres")
    apps: list[AppServer] = []
    try:
        for n in range(servers):
            folder = instance if n == 0 else copy_instance(instance, workdir / f"instance-{n}")
            env = {
                **os.environ,
                "CREDITS_DATABASE_URL": app_url,
                "CREDITS_INSTANCE_PATH": str(folder),
                "CREDITS_ACCESS_LOG": "",
                "CREDITS_DATABASE_POOLER": pooler,
            }
            apps.append(AppServer(env, workdir / f"{label}-{n}.log", workers=args.workers).start())
        per_run = int(args.max_rate * args.duration)
        warmup = int(args.max_rate * 2)
        cursor = 0

        def drive(seconds: float, count: int) -> dict[str, float]:
            nonlocal cursor
            batch = codes[cursor : cursor + count]
            cursor += count
            share = max(1, args.clients // servers)
            results: list[dict[str, float]] = [{} for _ in apps]

            def one(i: int) -> None:
                results[i] = run_wrk(apps[i].url, token, batch[i::servers], share, seconds, workdir)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(servers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return {
                "requests": sum(r["requests"] for r in results),
                "errors": sum(r["errors"] for r in results),
                "per_s": sum(r["per_s"] for r in results),
                "p50_ms": max(r["p50_ms"] for r in results),
                "p99_ms": max(r["p99_ms"] for r in results),
            }

        drive(2, warmup)
        app_pids = [p for a in apps for p in [a.process.pid, *a.worker_pids()] if a.process]
        bouncer_pids = _pids("pgbouncer") if bouncer else []
        runs, cpu = [], []
        for _ in range(args.runs):
            postgres_before = {p: _cpu_ms([p]) for p in postgres_pids()}
            app_before = _cpu_ms(app_pids)
            bouncer_before = _cpu_ms(bouncer_pids)
            result = drive(args.duration, per_run)
            postgres_ms = sum(_cpu_ms([p]) - postgres_before.get(p, 0.0) for p in postgres_pids())
            n = max(result["requests"], 1)
            runs.append(result)
            cpu.append(
                {
                    "app": (_cpu_ms(app_pids) - app_before) / n,
                    "postgres": postgres_ms / n,
                    "pgbouncer": (_cpu_ms(bouncer_pids) - bouncer_before) / n,
                }
            )
            print(
                f"    {label} run: {result['per_s']:.0f} redemptions/s, p50 "
                f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                f"{result['errors']:.0f} not 201",
                flush=True,
            )
    finally:
        for a in apps:
            a.stop()
        if bouncer is not None:
            bouncer.stop()
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out["errors"] = sum(r["errors"] for r in runs)
    for k in ("app", "postgres", "pgbouncer"):
        out[f"cpu_{k}_ms"] = statistics.median(c[k] for c in cpu)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m credits.bench redeem",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections (16)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per run (10)")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported (3)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per server (4)")
    parser.add_argument(
        "--servers", type=int, default=1, help="app servers (gunicorn instances) to compare (1)"
    )
    parser.add_argument(
        "--pooler",
        choices=["none", "pgbouncer"],
        default="none",
        help="put PgBouncer (transaction pooling) between the servers and PostgreSQL",
    )
    parser.add_argument(
        "--max-rate",
        type=int,
        default=2500,
        help="vouchers to prepare per second of each run (2500)",
    )
    parser.add_argument("--database-url", default=None, help=f"scratch database ({DEFAULT_URL})")
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="run on a PostgreSQL cluster the bench starts (and stops) in a temporary folder",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    pooler = "" if args.pooler == "none" else args.pooler
    compare = args.servers > 1 or bool(pooler)

    from sqlalchemy.engine import make_url

    from credits.bench.servers import PostgresCluster, private_dir

    cluster = None
    database_url = args.database_url or DEFAULT_URL
    if args.own_cluster:
        cluster = PostgresCluster(private_dir("credits-bench-pg-")).init(
            shared_buffers="256MB", max_connections=300
        )
        cluster.start()
        database_url = cluster.url("credits_bench_redeem")
    try:
        url = scratch_database(database_url)
        cluster_port = make_url(url).port or 5432
        workdir = Path(tempfile.mkdtemp(prefix="credits-bench-redeem-"))
        instance = workdir / "instance"
        per_config = int(args.max_rate * 2) + int(args.max_rate * args.duration) * args.runs
        sql_codes = 4000
        needed = per_config * (2 if compare else 1) + sql_codes
        print(f"redeem benchmark — {machine()}")
        print(
            f"database: {url.split('@')[-1]}; {args.clients} clients, {args.workers} gunicorn "
            f"workers per server, {args.duration:.0f} s per run, median of {args.runs} runs"
        )
        codes, token, terminal_id = seed(url, instance, needed, procs=4)

        def postgres_pids() -> list[int]:
            # On a cluster of our own, exactly its processes; else every "postgres" process
            # on the machine (keep it quiet).
            if cluster is None:
                return _pids("postgres")
            from credits.bench.servers import children

            postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
            return [postmaster, *children(postmaster)]

        configs = [("1 server, direct (baseline)", 1, "")]
        if compare:
            where = "PgBouncer" if pooler else "direct"
            configs.append((f"{args.servers} servers, {where}", args.servers, pooler))
        figures = []
        cursor = 0
        for label, servers, how in configs:
            figures.append(
                (
                    label,
                    _measure(
                        label,
                        url,
                        instance,
                        workdir,
                        token,
                        codes[cursor : cursor + per_config],
                        args,
                        servers=servers,
                        pooler=how,
                        cluster_port=cluster_port,
                        postgres_pids=postgres_pids,
                    ),
                )
            )
            cursor += per_config
        sql = run_sql(
            url, token, terminal_id, codes[cursor : cursor + sql_codes], args.clients, instance
        )
    finally:
        if cluster is not None:
            cluster.stop("immediate")
    print(
        f"  {'set-up':32} {'redemptions/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'not 201':>8}"
        f"  CPU ms per redemption: app / PostgreSQL / PgBouncer"
    )
    for label, f in figures:
        print(
            f"  {label:32} {f['per_s']:13.0f} {f['p50_ms']:7.1f} {f['p99_ms']:7.1f} "
            f"{f['errors']:8.0f}  {f['cpu_app_ms']:.2f} / {f['cpu_postgres_ms']:.2f} / "
            f"{f['cpu_pgbouncer_ms']:.2f}"
        )
    print(
        f"  {'bare SQL, ' + str(args.clients) + ' processes':32} {sql['per_s']:13.0f} "
        f"{sql['p50_ms']:7.2f} {sql['p99_ms']:7.2f}"
    )
    base = figures[0][1]
    print(f"  ratio HTTP / bare SQL (baseline): {base['per_s'] / sql['per_s']:.2f}")
    if compare:
        other = figures[1][1]
        print(f"  {figures[1][0]} / baseline: {other['per_s'] / base['per_s']:.2f}")
    total = base["cpu_app_ms"] + base["cpu_postgres_ms"]
    print(
        f"  CPU per redemption (baseline): app workers {base['cpu_app_ms']:.2f} ms, PostgreSQL "
        f"{base['cpu_postgres_ms']:.2f} ms (2 cores = {2000 / max(total, 0.001):.0f}/s if "
        "nothing else ran)"
    )
