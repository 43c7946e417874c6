"""Test fixtures shared by every layer of the suite.

One suite, two databases: without ``CREDITS_TEST_DATABASE_URL`` it runs on SQLite; with it
(``postgresql+psycopg://postgres@127.0.0.1:5432/<fresh db>``) it runs on PostgreSQL. Tests
marked ``postgres`` need PostgreSQL and are skipped, with the reason, on the SQLite leg.

Isolation: the schema is migrated once per run (Alembic, like production). Each test then
starts from an empty, bootstrapped ledger — SQLite: a copy of the migrated template file;
PostgreSQL: every table emptied (with triggers bypassed) and sequences restarted. Tests
really commit, so deferred constraints and triggers fire as they do in production, and
threads or a real server process can share the database.

Least privilege (PostgreSQL): ``CREDITS_TEST_DATABASE_URL`` names a superuser. The suite
creates two roles of its own for that database (``<db>_owner`` and ``<db>_app``, with
credits.privileges, as `credits db-roles` does), migrates as the owner with the app role's
grants (as `credits init-db` does), and runs everything else — services, the CLI, served
apps — as the app role, exactly as production does. Only the harness's own resets and the
tests that play a tamperer with direct database access (:func:`admin_engine`) or check the
owner's triggers (``owner_db``) use more.

Under ``CI=true`` a missing prerequisite (the database, Chromium, hledger...) fails the test
instead of skipping it: see :func:`need`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from credits import create_app, ledger
from credits.accounts import Role, create_person, issue_token
from credits.db import Database, make_engine, upgrade_to_head
from credits.services import Services

PG_URL = os.environ.get("CREDITS_TEST_DATABASE_URL") or None
#: CREDITS_TEST_PGBOUNCER=1 (with a PostgreSQL URL): the tests reach the database through a
#: PgBouncer in transaction pooling that the run starts itself, and the app runs with
#: CREDITS_DATABASE_POOLER=pgbouncer (CI runs the redemption, race and close tests so).
VIA_PGBOUNCER = os.environ.get("CREDITS_TEST_PGBOUNCER", "") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def need(condition: bool, reason: str) -> None:
    """Skip the test unless ``condition``; under CI=true, fail instead of skipping."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and a prerequisite is missing: {reason}")
    pytest.skip(reason)


#: Set by ``./dev test-at WHEN``: the suite runs under faketime, its clock moved to WHEN.
FAKETIME = os.environ.get("CREDITS_TEST_FAKETIME") or None


#: Browser tests that exercise the serving stack against the database: both legs run them.
BROWSER_TESTS_ON_BOTH_LEGS = frozenset(
    {"test_served_by_gunicorn.py", "test_terminal_against_the_ledger.py"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FAKETIME:
        # libfaketime moves CLOCK_MONOTONIC too but does not intercept sem_clockwait, which
        # Python's timed waits use: in a thread, Event.wait(timeout) then never times out. A
        # test whose threads must wake on a timeout is marked ``real_clock``; it runs in the
        # passes at the real date (the PostgreSQL leg and CI's real_clock pass).
        moved = pytest.mark.skip(reason=f"real_clock: not under faketime ({FAKETIME})")
        for item in items:
            if "real_clock" in item.keywords:
                item.add_marker(moved)
    # The fault suite starts servers of its own and takes minutes: it runs when asked for
    # (`-m faults`; CI runs it once, as its own step), not in every leg.
    if "faults" not in (config.getoption("markexpr") or ""):
        skip_faults = pytest.mark.skip(
            reason="fault suite: run `./dev test tests/faults -m faults` (CI runs it)"
        )
        for item in items:
            if "faults" in item.keywords:
                item.add_marker(skip_faults)
    if PG_URL:
        # The browser tests drive the same pages on either database, and take minutes of
        # Chromium: they run in the SQLite leg. The PostgreSQL leg keeps the ones that are
        # about the stack rather than the page (gunicorn, the terminal against the ledger)
        # and any marked ``postgres``; every page still renders on PostgreSQL in
        # test_page_crawl.py (no browser).
        pages = pytest.mark.skip(reason="browser test of the pages: runs in the SQLite leg")
        for item in items:
            if (
                "browser" in item.keywords
                and "postgres" not in item.keywords
                and Path(str(item.fspath)).name not in BROWSER_TESTS_ON_BOTH_LEGS
            ):
                item.add_marker(pages)
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: runs in the PostgreSQL leg (set CREDITS_TEST_DATABASE_URL)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    where = PG_URL or "SQLite (set CREDITS_TEST_DATABASE_URL for the PostgreSQL leg)"
    if PG_URL and VIA_PGBOUNCER:
        where += ", through a PgBouncer of the run's own (transaction pooling)"
    return f"credits test database: {where}"


# --- the database --------------------------------------------------------------------------


@dataclass(frozen=True)
class TestDatabase:
    url: str | None  # PostgreSQL URL of the app role, or None for SQLite
    sqlite_template: Path | None
    owner_url: str | None = None  # PostgreSQL: the role that owns the tables
    app_role: str | None = None


def role_names(url: str) -> tuple[str, str]:
    """The owner and app roles the suite uses for the database in ``url``."""
    base = re.sub(r"[^a-z0-9_]", "_", (make_url(url).database or "credits").lower())[:50]
    return f"{base}_owner", f"{base}_app"


def _prepare_postgres(url: str) -> tuple[str, str, str]:
    """Wipe the database, (re)create its two roles and hand it to the owner; return the
    owner's URL, the app's URL and the app role's name."""
    from credits.privileges import setup_statements

    owner, app = role_names(url)
    parsed = make_url(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            for statement in setup_statements(owner=owner, app=app, database=parsed.database):
                conn.execute(text(statement))
    finally:
        engine.dispose()
    as_role = lambda role: parsed.set(username=role, password=None).render_as_string(  # noqa: E731
        hide_password=False
    )
    return as_role(owner), as_role(app), app


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """Migrate the test database once per run (PostgreSQL: as its owner role; the app runs as
    its app role — through a PgBouncer the run starts when CREDITS_TEST_PGBOUNCER=1)."""
    if PG_URL:
        try:
            owner_url, app_url, app_role = _prepare_postgres(PG_URL)
        except Exception as exc:  # unreachable database: always loud, never a silent skip
            pytest.exit(f"CREDITS_TEST_DATABASE_URL={PG_URL} is not usable: {exc}", returncode=3)
        engine = make_engine(owner_url)
        upgrade_to_head(engine, app_role=app_role)
        engine.dispose()
        if not VIA_PGBOUNCER:
            yield TestDatabase(app_url, None, owner_url, app_role)
            return
        from credits.bench.servers import PgBouncer, pgbouncer_program, private_dir

        need(pgbouncer_program() is not None, "pgbouncer (apt-get install pgbouncer)")
        target = make_url(app_url)
        root = private_dir("credits-test-pgbouncer-")
        bouncer = PgBouncer(
            root,
            server_port=target.port or 5432,
            pool_size=30,
            users=("postgres", target.username or "postgres"),
        ).start()
        try:
            yield TestDatabase(
                bouncer.url(target.database or "postgres", user=target.username or "postgres"),
                None,
                owner_url,
                app_role,
            )
        finally:
            bouncer.stop()
            shutil.rmtree(root, ignore_errors=True)
        return
    template = tmp_path_factory.mktemp("template") / "credits.sqlite3"
    engine = make_engine(f"sqlite:///{template}")
    upgrade_to_head(engine)
    engine.dispose()
    yield TestDatabase(None, template)


def _tables_in_delete_order() -> list[str]:
    import credits.models  # noqa: F401

    return [t.name for t in reversed(SQLModel.metadata.sorted_tables)]


_ADMIN_ENGINES: dict[str, Any] = {}


def admin_engine() -> Any:
    """An engine on the PostgreSQL test database as the superuser it was given
    (``CREDITS_TEST_DATABASE_URL``): the harness's resets, and tests playing someone with
    direct access to the database (triggers off, constraints dropped)."""
    assert PG_URL, "admin_engine() is for the PostgreSQL leg"
    if PG_URL not in _ADMIN_ENGINES:
        _ADMIN_ENGINES[PG_URL] = make_engine(PG_URL, pool_size=2)
    return _ADMIN_ENGINES[PG_URL]


def _reset_postgres() -> None:
    tables = _tables_in_delete_order()
    with admin_engine().begin() as conn:
        # Bypass the append-only triggers: this is the test harness, not the app.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(test_database: TestDatabase, tmp_path: Path) -> str:
    """A database for this test alone (an emptied PostgreSQL or a fresh SQLite copy)."""
    if test_database.url:
        return test_database.url
    assert test_database.sqlite_template is not None
    target = tmp_path / "credits.sqlite3"
    shutil.copyfile(test_database.sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings_overrides(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """Settings every test app and service uses; override in a test module to change."""
    overrides = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "PASSWORD_HASH_PROFILE": "fast",
    }
    if PG_URL and VIA_PGBOUNCER:
        overrides["DATABASE_POOLER"] = "pgbouncer"
    return overrides


@pytest.fixture
def services(settings_overrides: dict[str, Any], test_database: TestDatabase) -> Iterator[Services]:
    """Services on an empty, bootstrapped ledger."""
    svc = Services.build(settings_overrides)
    if test_database.url:
        _reset_postgres()
    svc.db.run(lambda s: ledger.bootstrap(s, hot_slots=svc.settings.hot_account_slots))
    yield svc
    svc.close()


@pytest.fixture
def db(services: Services) -> Database:
    return services.db


@pytest.fixture
def owner_db(db: Database, test_database: TestDatabase) -> Iterator[Database]:
    """The test database as the role that owns the tables (PostgreSQL; on SQLite, ``db``):
    for tests of what the database refuses even its owner (the append-only triggers)."""
    if not test_database.owner_url:
        yield db
        return
    owner = Database(make_engine(test_database.owner_url, pool_size=2))
    yield owner
    owner.engine.dispose()


@pytest.fixture
def dialect(db: Database) -> str:
    return db.dialect


@pytest.fixture
def app(services: Services) -> Any:
    app = create_app(services=services)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def cli_env(settings_overrides: dict[str, Any]) -> dict[str, str]:
    """Environment for running the `credits` command against this test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITS_")}
    env.update({f"CREDITS_{k}": str(v) for k, v in settings_overrides.items()})
    return env


@pytest.fixture
def runner(cli_env: dict[str, str]) -> Any:
    """Click's runner for the `credits` command, pointed at this test's database."""
    from click.testing import CliRunner

    return CliRunner(env=cli_env)


# --- people --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Someone:
    """A person made for a test, with a token for the role they act in."""

    id: int
    name: str
    email: str
    role: Role
    token: str
    account_id: int | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_person(db: Database) -> Any:
    """``make_person(role=Role.MEMBER, credits=0, name=None)`` -> Someone, committed."""
    counter = iter(range(1, 10_000))

    def make(
        role: Role = Role.MEMBER,
        *,
        credits: int = 0,
        name: str | None = None,
        roles: tuple[Role, ...] | None = None,
    ) -> Someone:
        n = next(counter)
        name = name or f"{role.value.title()} {n}"
        email = f"{role.value}{n}@test.example"

        def create(s: Any) -> Someone:
            person = create_person(
                s,
                name=name,
                email=email,
                roles=roles or (role,),
                password="correct horse battery",
                granted_by="test",
                password_profile="fast",
            )
            assert person.id is not None
            _, token = issue_token(
                s, person_id=person.id, role=role, name="test", created_by="test"
            )
            if credits:
                assert person.ledger_account_id is not None
                issuance = ledger.scheme_account(s, ledger.ISSUANCE)
                ledger.post_entry(
                    s,
                    ledger.EntryRequest(
                        kind=ledger.EntryKind.EARN,
                        legs=(
                            ledger.Leg(issuance.id, -credits),
                            ledger.Leg(person.ledger_account_id, credits),
                        ),
                        memo=f"test credits for {name}",
                        actor="test",
                        idempotency_key=f"test:seed:{person.id}",
                    ),
                )
            return Someone(person.id, name, email, role, token, person.ledger_account_id)

        return db.run(create)

    return make


# --- a real server process -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: Any = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.log is not None:
            self.log.close()


def start_server(
    env: dict[str, str], log_path: Path, *, workers: int = 2, port: int | None = None
) -> LiveServer:
    """Start `credits serve` (on ``port``, or a free one) and wait until /readyz answers."""
    import urllib.request

    port = port or free_port()
    log = log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "credits.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return LiveServer(url, process, log_path, log)
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait(5)
    log.close()
    raise RuntimeError(f"server did not become ready: {log_path.read_text()[-2000:]}")


@pytest.fixture
def live_server(
    services: Services, cli_env: dict[str, str], tmp_path: Path
) -> Iterator[LiveServer]:
    """The app served by `credits serve` (gunicorn) on this test's database."""
    server = start_server(cli_env, tmp_path / "server.log")
    yield server
    server.stop()


# --- a real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"


#: Content-Security-Policy violations Chromium reported during the current test.
CSP_VIOLATIONS: list[str] = []


def _watch_for_csp_violations(message: Any) -> None:
    if "Content Security Policy" in message.text:
        CSP_VIOLATIONS.append(message.text)


class CspWatchingBrowser:
    """The browser, with every context it makes reporting CSP violations from its console
    (the pages run under a strict policy: a violation is a page that does not work)."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        if not kwargs.get("bypass_csp"):
            context.on("console", _watch_for_csp_violations)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Chromium driven by playwright (Debian's chromium; playwright cannot download its own).
    A Content-Security-Policy violation in any page's console fails the test."""
    need(Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield CspWatchingBrowser(browser)
        browser.close()


@pytest.fixture(autouse=True)
def _no_csp_violations() -> Iterator[None]:
    CSP_VIOLATIONS.clear()
    yield
    if CSP_VIOLATIONS:
        found = list(CSP_VIOLATIONS)
        CSP_VIOLATIONS.clear()
        pytest.fail(f"Content-Security-Policy violations in the browser: {found}")


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page in a phone-sized (390×844) browser context."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    """A page in a desktop-sized (1366×900) browser context."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def axe_violations(
    page: Any, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict[str, Any]]:
    """Run axe-core in ``page`` and return the violations of the given impacts."""
    need(AXE_JS.exists(), f"axe-core not installed at {AXE_JS} (npm ci)")
    # Evaluated by the browser's debugger protocol, not added as an inline <script>: the
    # pages' Content-Security-Policy (rightly) refuses inline scripts.
    page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]


# --- mail ----------------------------------------------------------------------------------


class Mailbox:
    """The messages the development mailer (credits.mail.FileMailer) wrote for this test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def all(self, *, to: str | None = None, kind: str | None = None) -> list[Any]:
        from credits.mail import read_outbox

        return read_outbox(self.folder, to=to, kind=kind)

    def last(self, *, to: str | None = None, kind: str | None = None) -> Any:
        found = self.all(to=to, kind=kind)
        assert found, f"no mail (to={to}, kind={kind}) in {self.folder}"
        return found[-1]


@pytest.fixture
def mailbox(services: Services) -> Mailbox:
    """Read what was "sent": ``mailbox.last(to=..., kind="invitation").link()``."""
    from credits.mail import mail_folder

    return Mailbox(mail_folder(services.settings))
