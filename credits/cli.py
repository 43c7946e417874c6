"""The `credits` command (contract v1).

    credits init-db                 create or upgrade the database (Alembic, to head)
    credits demo [--json]           seed a demo scheme (the same passwords and tokens as the last
                                    run; --reset-passwords for new ones); --members N --credits C
                                    for load tests
    credits serve [--host --port]   serve the app (gunicorn; embedded default: SQLite)
    credits verify [--json]         full reconciliation; exit 0 only if every rule holds
    credits keys list|rotate|revoke KID, expire-vouchers, expire-inactive: credits/vouchers/cli.py
    credits statement, verify-statement, set-rate, close-month: credits/statements/cli.py
    credits backup, restore, db-roles: credits/operations/cli.py
    credits erase-person: credits/accounts/cli.py
    credits reconcile-bank FILE, settlement-file RUN: credits/settlement/cli.py
    credits hold-publication, release-publication: credits/open/cli.py

Exit codes: 0 success; 1 a check failed; 2 the command was refused (bad input, a database
that is not migrated...), with the reason on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from credits.cli_common import CreditsCommandError, build_services
from credits.errors import CreditsError
from credits.services import Services


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cooperative Credits: the council's ledger of volunteering credits."""


def ensure_instance_keys(instance_path: Any) -> None:
    """Create the instance folder's secrets if missing: the secret key, the voucher signing
    key and the statement signing key. Every app server of a deployment must hold the same
    ones, so they are made once (by ``credits init-db``) and copied, never made by each
    server on its first request."""
    from pathlib import Path

    from credits.config import Settings
    from credits.statements.signing import statement_key
    from credits.vouchers.keys import keyring_for

    settings = Settings.load({"INSTANCE_PATH": str(instance_path), "DATABASE_URL": "sqlite://"})
    keyring_for(settings.instance_path).ensure()
    statement_key(Path(settings.instance_path))


@main.command("init-db")
def init_db() -> None:
    """Create the database or upgrade it to the latest schema, and the instance folder's
    keys (copy the folder's secret_key, voucher-keys/ and statement-keys/ to every other
    app server).

    On PostgreSQL, run it as the role that owns the tables; with CREDITS_DB_APP_ROLE set, it
    then grants that role what the app needs and nothing more (deploy/README.md)."""
    with build_services(migrate=True, grant=True) as svc:
        ensure_instance_keys(svc.settings.instance_path)
        click.echo(f"database ready: {svc.db.engine.url.render_as_string(hide_password=True)}")
        click.echo(f"instance keys in: {svc.settings.instance_path}")
        if svc.settings.db_app_role and svc.db.dialect == "postgresql":
            click.echo(f"privileges granted to the app role {svc.settings.db_app_role}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the demo credentials as JSON.")
@click.option("--members", default=3, show_default=True, type=click.IntRange(0, 100_000))
@click.option(
    "--credits",
    "credits_each",
    default=None,
    type=click.IntRange(0, 1_000_000_000),
    help="Credits each member holds (default: a few different amounts).",
)
@click.option(
    "--reset-passwords",
    is_flag=True,
    help="Make new demo passwords and tokens (the old demo tokens stop working). Without it, "
    "a run prints the same ones as the last.",
)
def demo(as_json: bool, members: int, credits_each: int | None, reset_passwords: bool) -> None:
    """Create (or reuse) the database and seed a demo scheme."""
    from credits.demo import seed

    with build_services(migrate=True) as svc:
        try:
            result = seed(
                svc, members=members, credits=credits_each, reset_passwords=reset_passwords
            )
        except CreditsError as exc:
            raise CreditsCommandError(f"{exc.code}: {exc.detail}") from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo("Demo scheme ready. Sign in with:")
    for label, who in [("officer", result["officer"]), ("coordinator", result["coordinator"])]:
        click.echo(f"  {label:12} {who['email']:28} password {who['password']}")
    for who in result["members"][:10]:
        click.echo(f"  {'member':12} {who['email']:28} password {who['password']}")
    if len(result["members"]) > 10:
        click.echo(f"  ... and {len(result['members']) - 10} more members (use --json)")
    for shop in result["shops"]:
        click.echo(f"  shop {shop['id']}: {shop['name']}, terminal token {shop['terminal_token']}")
    click.echo("API tokens: run `credits demo --json`.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn (the same app deploy/ runs in production)."""
    build_services().close()  # refuse an un-migrated database before forking workers
    import tempfile

    from gunicorn.app.base import BaseApplication

    # Prometheus multiprocess mode, as deploy/gunicorn.conf.py sets it up: before any worker
    # imports prometheus_client, a fresh folder for this run's metrics files.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="credits-metrics-")

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            from credits.web_server import SETTINGS

            for name, value in SETTINGS.items():
                self.cfg.set(name, value)
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("child_exit", _metrics_worker_exited)

        def load(self) -> Any:
            from credits import create_app

            # Checked above; a worker restarted later during an outage must still start.
            return create_app(services=Services.build(check_migrations="when-reachable"))

    click.echo(f"Cooperative Credits on http://{host}:{port}/  (Ctrl-C to stop)")
    try:
        _Server().run()
    finally:
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _metrics_worker_exited(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--thorough",
    is_flag=True,
    help="Recompute the hash chain in Python too, not trusting the database's hash function.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=None,
    help="Checks run at once on PostgreSQL, on one shared snapshot "
    "(default: CREDITS_VERIFY_JOBS, 2).",
)
def verify(as_json: bool, thorough: bool, jobs: int | None) -> None:
    """Check every ledger rule over everything stored; exit 1 if any fails."""
    from credits.db import utcnow
    from credits.ledger import run_checks
    from credits.operations.runs import record_quietly
    from credits.verify_checks import all_checks

    started = utcnow()
    with build_services() as svc:
        with svc.db.read() as session:
            jobs = jobs or svc.settings.verify_jobs
            results = run_checks(session, all_checks(thorough=thorough), jobs=jobs)
        ok = all(r.ok for r in results)
        # What GET /metrics reports as the last verify's result and age.
        failed = sorted({r.name for r in results if not r.ok})
        problem = record_quietly(
            svc.db,
            "verify",
            started_at=started,
            finished_at=utcnow(),
            ok=ok,
            summary={"checks": len(results), "failed": failed, "thorough": thorough},
            source="credits verify" + (" --thorough" if thorough else ""),
        )
    if problem:
        click.echo(f"warning: this run could not be recorded for monitoring: {problem}", err=True)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [r.as_dict() for r in results]}, indent=2))
    else:
        for r in results:
            mark = "ok  " if r.ok else "FAIL"
            click.echo(
                f"{mark} {r.name}: {r.description} ({r.checked} checked, {r.elapsed_s:.1f} s)"
            )
            for problem in r.problems:
                click.echo(f"       - {problem}")
            if r.problem_count > len(r.problems):
                click.echo(f"       ... {r.problem_count - len(r.problems)} more")
        click.echo("verify: all checks passed" if ok else "verify: FAILED")
    sys.exit(0 if ok else 1)


def _add_capability_commands() -> None:
    from credits.accounts.cli import COMMANDS as accounts_commands
    from credits.open.cli import COMMANDS as open_commands
    from credits.operations.cli import COMMANDS as operations_commands
    from credits.settlement.cli import COMMANDS as settlement_commands
    from credits.statements.cli import COMMANDS as statement_commands
    from credits.vouchers.cli import COMMANDS as voucher_commands

    for command in (
        *voucher_commands,
        *statement_commands,
        *settlement_commands,
        *open_commands,
        *operations_commands,
        *accounts_commands,
    ):
        main.add_command(command)


_add_capability_commands()

if __name__ == "__main__":
    main()
