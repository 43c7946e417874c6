"""`python -m credits.bench earning`: awards per second, and a session sheet's latency.

Each worker is a separate process (as gunicorn workers are) recording awards for members of
its own, through ``earning.record_award`` in a unit of work — the whole use case: parsing,
scope checks, the budget and cap row locks, the ledger entry, the award row.

Scenarios:

- ``one-activity``: every worker awards the same activity, so every award takes the same
  (activity, month) budget row lock: the hot row of this design.
- ``own-activity``: each worker awards an activity of its own (no shared budget row): what
  the locks cost when they are not contended.
- ``sheet``: one coordinator records a 40-volunteer session sheet (one entry of 41
  postings), repeatedly; reports the latency.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from datetime import timedelta
from typing import Any

from credits import earning, ledger
from credits.accounts import Principal, Role, create_person
from credits.bench.common import machine, percentile, scratch_database
from credits.db import Database, make_engine
from credits.earning import dates

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_earning"
BIG = 1_000_000


def _setup(url: str, workers: int, members: int, own_activity: bool) -> list[dict[str, Any]]:
    db = Database(make_engine(url))
    db.run(lambda s: ledger.bootstrap(s))

    def create(s: Any) -> list[dict[str, Any]]:
        officer = create_person(
            s,
            name="Bench Officer",
            email="officer@bench.example",
            roles=(Role.OFFICER,),
            granted_by="bench",
        )
        o = Principal(role=Role.OFFICER, name="o", person_id=officer.id, via="bench")
        earning.set_four_eyes_threshold(s, o, BIG)
        out = []
        for w in range(workers):
            slug = f"bench-{w}" if own_activity else "bench"
            if own_activity or w == 0:
                earning.create_activity(
                    s,
                    o,
                    {
                        "slug": slug,
                        "name": f"Bench {slug}",
                        "unit": "hour",
                        "credits_per_unit": 10,
                        "week_cap_credits": BIG,
                        "month_cap_credits": BIG,
                        "monthly_budget_credits": 100_000_000,
                    },
                )
            coordinator = create_person(
                s,
                name=f"Coordinator {w}",
                email=f"c{w}@bench.example",
                roles=(Role.COORDINATOR,),
                granted_by="bench",
            )
            group = earning.create_group(s, o, {"name": f"Group {w}", "activities": [slug]})
            earning.add_coordinator(s, o, group.id, coordinator.email)
            emails = []
            for m in range(members):
                email = f"m{w}-{m}@bench.example"
                create_person(s, name=f"Member {w}-{m}", email=email, granted_by="bench")
                earning.add_member(s, o, group.id, email)
                emails.append(email)
            out.append({"coordinator": coordinator.id, "slug": slug, "emails": emails})
        return out

    plan = db.run(create)
    db.engine.dispose()
    return plan


def _worker(url: str, spec: dict[str, Any], count: int, start: Any, out: Any, tag: str) -> None:
    db = Database(make_engine(url, pool_size=2))
    who = Principal(role=Role.COORDINATOR, name="c", person_id=spec["coordinator"], via="bench")
    day = (dates.london_today() - timedelta(days=1)).isoformat()
    emails = spec["emails"]
    latencies = []
    start.wait()
    for i in range(count):
        t0 = time.perf_counter()
        db.run(
            lambda s, i=i: earning.record_award(
                s,
                who,
                member_email=emails[i % len(emails)],
                activity=spec["slug"],
                quantity="1",
                occurred_on=day,
                idempotency_key=f"{tag}-{spec['coordinator']}-{i}",
            )
        )
        latencies.append(time.perf_counter() - t0)
    out.put(latencies)
    db.engine.dispose()


def _awards(url: str, workers: int, per_worker: int, own_activity: bool) -> dict[str, float]:
    url = scratch_database(url)
    plan = _setup(url, workers, 20, own_activity)
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, plan[w], per_worker, start, out, "a"))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    latencies = [x for _ in procs for x in out.get(timeout=600)]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return {
        "awards_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def _sheet(url: str, runs: int) -> dict[str, float]:
    url = scratch_database(url)
    plan = _setup(url, 1, 40, False)[0]
    db = Database(make_engine(url))
    who = Principal(role=Role.COORDINATOR, name="c", person_id=plan["coordinator"], via="bench")
    day = (dates.london_today() - timedelta(days=1)).isoformat()
    latencies = []
    for r in range(runs):
        t0 = time.perf_counter()
        db.run(
            lambda s, r=r: earning.record_session(
                s,
                who,
                activity=plan["slug"],
                occurred_on=day,
                idempotency_key=f"sheet-{r}",
                lines=[{"member_email": e, "quantity": "2"} for e in plan["emails"]],
            )
        )
        latencies.append(time.perf_counter() - t0)
    db.engine.dispose()
    return {"p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m credits.bench earning")
    parser.add_argument("--url", default=DEFAULT_URL, help="scratch database (credits_bench*)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--awards", type=int, default=150, help="awards per worker")
    parser.add_argument("--sheets", type=int, default=20, help="session sheets to time")
    args = parser.parse_args(argv)
    print(f"# earning benchmark — {machine()}")
    print("| scenario | workers | awards/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for scenario, own in (("one-activity", False), ("own-activity", True)):
        for workers in args.workers:
            r = _awards(args.url, workers, args.awards, own)
            print(
                f"| {scenario} | {workers} | {r['awards_per_s']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} |"
            )
    s = _sheet(args.url, args.sheets)
    print(f"\nsession sheet of 40 volunteers: p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms")
