"""`./dev screenshots`: every picture the guides show, taken from the real pages in Chromium.

    ./dev screenshots            everything: the officers' and shops' guides (English) and the
                                 volunteers' guide in every language it is written in
    ./dev screenshots pt es      the volunteers' guide's pictures in those languages only
                                 (``en`` also retakes the officers' and shops' pictures)

Each language runs on a fresh, temporary instance (SQLite in a temporary folder, `credits
demo` to seed it, `credits serve` on a free port), so every run starts from the same scheme
and writes the same set of files (only times and dates on screen differ). The steps go
through the pages as a person would: sign in, claim a session, make a voucher, open it with
no signal, cancel one; a coordinator records a session sheet; an officer issues a voucher,
closes a month, reads a settlement run of the demo's history and prints a member's balance
statement; a shop's counter screen (the real ``shop_terminal``, against the same server)
takes a voucher, part of one, refuses one, and takes one offline once the server is
stopped. Volunteers' pages at phone width (390 px),
officers' and shops' at desktop width. PNGs are reduced to a 256-colour palette (Pillow)
to keep the repository small.

:data:`SHOTS` names every picture, by guide: tests/unit/test_guides.py checks that every
image a guide links exists and that every name here is used by its guide, so the two cannot
drift apart. Adding a step means adding its name here, taking it in the matching function
below, and linking it from the guide.

Needs Chromium (/usr/bin/chromium, or CHROMIUM) and the ``playwright`` Python package.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"

#: The languages the volunteers' guide is written in (docs/guide-volunteers[.xx].md).
LANGUAGES = ("en", "pt", "es", "pl", "fr")

#: Every picture, by guide, in the order the guide shows them.
SHOTS: dict[str, tuple[str, ...]] = {
    "volunteers": (
        "01-sign-in",
        "02-home",
        "03-claim",
        "04-claim-sent",
        "05-spend",
        "06-voucher",
        "07-voucher-offline",
        "08-vouchers",
        "09-cancel",
        "10-history",
    ),
    "shops": (
        "01-ready",
        "02-accepted",
        "03-part-keypad",
        "04-part-accepted",
        "05-refused-used",
        "06-refused-invalid",
        "07-accepted-offline",
    ),
    "officers": (
        "01-dashboard",
        "02-session-sheet",
        "03-session-recorded",
        "04-approvals",
        "05-issue-voucher",
        "06-printed-voucher",
        "07-shop-tills",
        "08-close-checks",
        "09-month-closed",
        "10-settlements",
        "11-settlement-run",
        "12-balance-statement",
    ),
}

#: The guide (Markdown file under docs/) for each guide and language.
GUIDES = {"volunteers": "guide-volunteers", "shops": "guide-shops", "officers": "guide-officers"}

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
COUNTER = {"width": 1024, "height": 720}
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


def guide_file(guide: str, language: str = "en") -> Path:
    """docs/guide-<guide>.md, or docs/guide-volunteers.<language>.md."""
    suffix = "" if language == "en" else f".{language}"
    return ROOT / "docs" / f"{GUIDES[guide]}{suffix}.md"


def shot_path(guide: str, name: str, language: str = "en") -> Path:
    """Where a picture lives: docs/screenshots/volunteers/<language>/<name>.png, or
    docs/screenshots/<guide>/<name>.png for the English-only guides."""
    if guide == "volunteers":
        return SCREENSHOTS / guide / language / f"{name}.png"
    return SCREENSHOTS / guide / f"{name}.png"


def expected_files() -> dict[Path, list[Path]]:
    """Every guide file, with the pictures it must use."""
    out: dict[Path, list[Path]] = {}
    for guide, names in SHOTS.items():
        languages = LANGUAGES if guide == "volunteers" else ("en",)
        for language in languages:
            out[guide_file(guide, language)] = [shot_path(guide, n, language) for n in names]
    return out


# --- the server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    """A temporary scheme: its folder, environment, demo credentials and server."""

    folder: Path
    env: dict[str, str]
    demo: dict[str, Any]
    url: str
    process: subprocess.Popen[bytes] | None = None

    def person(self, who: str) -> dict[str, str]:
        if who in ("officer", "coordinator"):
            return dict(self.demo[who])
        names = {"ann": 0, "bola": 1, "chen": 2}
        return dict(self.demo["members"][names[who]])

    def api(self, method: str, path: str, token: str, body: Any = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {token}"}
        resp = httpx.request(method, self.url + path, json=body, headers=headers, timeout=20)
        resp.raise_for_status()
        return resp.json()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextmanager
def instance() -> Iterator[Instance]:
    """A fresh demo scheme served by `credits serve` on a free port; removed afterwards."""
    import httpx

    folder = Path(tempfile.mkdtemp(prefix="credits-screenshots-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITS_")}
    env.update(
        CREDITS_DATABASE_URL=f"sqlite:///{folder / 'credits.sqlite3'}",
        CREDITS_INSTANCE_PATH=str(folder / "instance"),
        CREDITS_SECRET_KEY="screenshots-only-not-a-secret",
        CREDITS_PASSWORD_HASH_PROFILE="fast",
    )
    cli = [sys.executable, "-m", "credits.cli"]
    port = free_port()
    inst: Instance | None = None
    try:
        seeded = subprocess.run(  # noqa: S603 (our own command)
            [*cli, "demo", "--json"], env=env, capture_output=True, text=True, check=True, cwd=ROOT
        )
        log = (folder / "server.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 (our own command)
            [*cli, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        inst = Instance(folder, env, json.loads(seeded.stdout), f"http://127.0.0.1:{port}")
        inst.process = process
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((folder / "server.log").read_text()[-2000:])
            try:
                if httpx.get(inst.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready") from None
                time.sleep(0.2)
        yield inst
    finally:
        if inst is not None:
            inst.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --- taking pictures ---------------------------------------------------------------------


def save(page: Any, guide: str, name: str, language: str = "en", *, full: bool = False) -> None:
    """A screenshot of ``page``, reduced to a palette PNG, at its stable name."""
    from PIL import Image

    assert name in SHOTS[guide], f"{guide}/{name} is not in SHOTS"
    target = shot_path(guide, name, language)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    raw = target.with_suffix(".raw.png")
    page.screenshot(path=str(raw), full_page=full, animations="disabled", caret="hide")
    with Image.open(raw) as img:
        small = img.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
        small.save(target, optimize=True)
    raw.unlink()
    print(f"  {target.relative_to(ROOT)}")


def sign_in(page: Any, inst: Instance, who: str) -> None:
    person = inst.person(who)
    page.goto(inst.url + "/sign-in")
    page.fill("#login", person["email"])
    page.fill("#password", person["password"])
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()


def new_context(browser: Any, viewport: dict[str, int], language: str = "en") -> Any:
    context = browser.new_context(viewport=viewport, locale=_BROWSER_LANG[language])
    # The pages follow the cc_lang cookie (and Accept-Language, set by ``locale``).
    context.add_cookies([{"name": "cc_lang", "value": language, "url": "http://127.0.0.1"}])
    return context


def volunteers(browser: Any, inst: Instance, language: str) -> None:
    """The volunteers' guide, at phone width, in ``language``."""
    context = new_context(browser, PHONE, language)
    page = context.new_page()
    lang = language

    def shot(name: str, full: bool = False) -> None:
        save(page, "volunteers", name, lang, full=full)

    try:
        page.goto(inst.url + "/sign-in")
        page.fill("#login", inst.person("ann")["email"])
        shot("01-sign-in")
        sign_in(page, inst, "ann")
        shot("02-home")

        page.goto(inst.url + "/me/claim")
        page.select_option("#activity", "snow-clearing")
        page.fill("#quantity", "2")
        page.fill("#note", _CLAIM_NOTE.get(lang, _CLAIM_NOTE["en"]))
        shot("03-claim", full=True)
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_load_state()
        shot("04-claim-sent")

        page.evaluate("async () => { await navigator.serviceWorker.ready; }")
        page.goto(inst.url + "/vouchers/new")
        page.fill("#amount", "15")
        shot("05-spend", full=True)
        page.locator("main form button[type=submit]:not([name=quick])").click()
        page.wait_for_load_state()
        voucher_url = page.url
        page.goto(voucher_url)  # viewed once online: its copy is kept for no signal
        shot("06-voucher")

        context.set_offline(True)
        page.reload()
        page.wait_for_selector("#offline-note:not([hidden])")
        shot("07-voucher-offline")
        context.set_offline(False)

        page.goto(inst.url + "/vouchers")
        shot("08-vouchers", full=True)
        page.goto(voucher_url + "/cancel")
        shot("09-cancel")
        page.goto(inst.url + "/me/history")
        shot("10-history")
    finally:
        context.close()


_CLAIM_NOTE = {
    "en": "Cleared the path to the school",
    "pt": "Limpei o caminho para a escola",
    "es": "Despejé el camino a la escuela",
    "pl": "Odśnieżanie drogi do szkoły",
    "fr": "J'ai dégagé le chemin de l'école",
}


def officers(browser: Any, inst: Instance) -> None:
    """The officers' guide (and its coordinator's steps), at desktop width."""
    context = new_context(browser, DESKTOP)
    page = context.new_page()

    def shot(name: str, full: bool = False) -> None:
        save(page, "officers", name, full=full)

    try:
        sign_in(page, inst, "officer")
        shot("01-dashboard")

        context.clear_cookies()
        sign_in(page, inst, "coordinator")
        page.goto(inst.url + "/coordinator/groups/1/sheet")
        page.select_option("#activity", "snow-clearing")
        # The first two members came (3 and 2 hours); the rest of the group did not.
        for field, hours in zip(page.locator("input[name^='q-']").all(), ("3", "2"), strict=False):
            field.fill(hours)
        page.fill("#note", "Snow day: Acre Lane and the school path")
        shot("02-session-sheet", full=True)
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_load_state()
        shot("03-session-recorded")
        page.goto(inst.url + "/coordinator/approvals")
        shot("04-approvals", full=True)

        context.clear_cookies()
        sign_in(page, inst, "officer")
        page.goto(inst.url + "/officer/vouchers/new")
        page.fill("#email", inst.person("chen")["email"])
        page.fill("#amount", "10")
        shot("05-issue-voucher")
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_load_state()
        shot("06-printed-voucher")

        page.goto(inst.url + "/officer/shops/1")
        shot("07-shop-tills", full=True)

        month = _last_month()
        page.goto(inst.url + f"/officer/statements/{month}/close")
        page.locator(f"form[action$='/{month}/close/checks'] button").click()
        page.wait_for_load_state()
        _wait_for_checks(page)
        shot("08-close-checks", full=True)
        page.locator(f"form[action$='/{month}/close'] button").click()
        page.wait_for_load_state()
        _wait_for_checks(page)
        shot("09-month-closed", full=True)

        page.goto(inst.url + "/officer/settlements")
        shot("10-settlements", full=True)
        # The demo's history settled every month it has (credits.demo_history): the newest
        # run shows what a run lists, shop by shop, with real amounts.
        page.locator("main table a[href*='/settlements/']").first.click()
        page.wait_for_load_state()
        shot("11-settlement-run", full=True)

        ann = inst.api("GET", "/api/v1/me", inst.person("ann")["token"])
        page.goto(inst.url + f"/people/{ann['id']}/statement")
        shot("12-balance-statement", full=True)
    finally:
        context.close()


def _last_month() -> str:
    from credits.earning.dates import london_today

    today = london_today()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _wait_for_checks(page: Any) -> None:
    """The close page polls while its checks run; wait until it stops saying so."""
    for _ in range(120):
        page.wait_for_load_state()
        # "3 of 16 checks done." while they run (English: the officers' guide is English).
        if "checks done" not in page.locator("main").inner_text():
            return
        time.sleep(0.5)
        page.reload()


class CounterServer:
    """The counter screen (the real shop_terminal) served by waitress in a thread."""

    def __init__(self, terminal: Any, port: int) -> None:
        from shop_terminal.serve import make_server

        self.server, _ = make_server(replace(terminal.config, port=port), terminal)
        self.url = f"http://127.0.0.1:{port}"
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            if not self.stopping:
                raise

    def stop(self) -> None:
        self.stopping = True
        for channel in list(self.server._map.values()):
            if channel is not self.server:
                channel.handle_close()
        self.server.task_dispatcher.shutdown()
        self.server.close()
        self.thread.join(5)


def shops(browser: Any, inst: Instance) -> None:
    """The shops' guide: the counter screen of Brixton Bakery's till, at desktop width.
    Stops the server at the end (the till then works offline)."""
    from shop_terminal.config import Config
    from shop_terminal.terminal import Terminal

    ann, bola = inst.person("ann"), inst.person("bola")

    def voucher(who: dict[str, str], amount: int, key: str) -> str:
        body = {"amount": amount, "idempotency_key": f"screenshots-{key}"}
        return str(inst.api("POST", "/api/v1/vouchers", who["token"], body)["code"])

    full, part, offline = (
        voucher(ann, 10, "full"),
        voucher(bola, 15, "part"),
        voucher(ann, 5, "off"),
    )
    config = Config(
        data_dir=inst.folder / "till",
        ledger_url=inst.url,
        terminal_token=inst.demo["shops"][0]["terminal_token"],
        connect_timeout_s=1.0,
        read_timeout_s=5.0,
        offline_recheck_s=0.0,
    )
    terminal = Terminal(config)
    if not terminal.refresh():
        raise RuntimeError("the till does not reach the server")
    counter = CounterServer(terminal, free_port())
    context = new_context(browser, COUNTER)
    page = context.new_page()

    def shot(name: str) -> None:
        save(page, "shops", name)

    def scan(code: str) -> None:
        before = page.locator("#result").get_attribute("data-scan") or ""
        page.focus("#code")
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "b => { const r = document.getElementById('result');"
            " return r.dataset.tone !== 'ready' && (r.dataset.scan || '') !== b; }",
            arg=before,
            timeout=20_000,
        )

    try:
        page.goto(counter.url)
        shot("01-ready")
        scan(full)
        shot("02-accepted")
        page.click("#part-button")
        for key in "12":
            page.click(f".keypad__key[data-key='{key}']")
        shot("03-part-keypad")
        scan(part)
        shot("04-part-accepted")
        scan(full)
        shot("05-refused-used")
        i = len(offline) // 2
        tampered = offline[:i] + ("1" if offline[i] != "1" else "2") + offline[i + 1 :]
        scan(tampered)
        shot("06-refused-invalid")
        inst.stop()  # the internet at the counter drops
        scan(offline)
        shot("07-accepted-offline")
    finally:
        context.close()
        counter.stop()
        terminal.close()


# --- the command ---------------------------------------------------------------------------


#: The browser's language for each guide language (British English: dates day first).
_BROWSER_LANG = {"en": "en-GB", "pt": "pt-PT", "es": "es-ES", "pl": "pl-PL", "fr": "fr-FR"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    unknown = [a for a in args if a not in LANGUAGES]
    if unknown:
        print(f"usage: ./dev screenshots [{' '.join(LANGUAGES)}]  (unknown: {unknown})")
        return 2
    languages = args or list(LANGUAGES)
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as pw:
        for language in languages:
            # --lang: the browser's own words in the language too. (A date field's format
            # follows the system's locales: on a machine without them it stays mm/dd/yyyy.)
            args = [*CHROMIUM_ARGS, f"--lang={_BROWSER_LANG[language]}"]
            browser = pw.chromium.launch(executable_path=chromium, args=args)
            try:
                print(f"== volunteers ({language})")
                with instance() as inst:
                    volunteers(browser, inst, language)
                    if language == "en":
                        print("== officers and coordinators (en)")
                        officers(browser, inst)
                        print("== shops: the counter screen (en)")
                        shops(browser, inst)
            finally:
                browser.close()
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
