"""The mail interface: templates, the development outbox, SMTP (against a tiny fake server)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from credits.config import Settings
from credits.mail import (
    FileMailer,
    MailError,
    Message,
    SmtpMailer,
    build_mailer,
    read_outbox,
    render,
)


def test_templates_render_plain_en_gb_text_with_a_subject():
    msg = render(
        "password_reset",
        to="ann@example.org",
        name="Ann Okafor",
        council="Lambeth Council",
        url="https://credits.example/password/reset?token=abc",
        expires="Wednesday 2 December 2026 at 2:05pm",
    )
    assert msg.subject == "Choose a new password for Cooperative Credits"
    assert msg.body.startswith("Dear Ann Okafor,")
    assert "Lambeth Council" in msg.body and "https://credits.example/" in msg.body
    assert "<" not in msg.body  # plain text, no markup


def test_file_mailer_writes_eml_files_that_read_back(tmp_path: Path):
    mailer = FileMailer(tmp_path / "mail", "Credits <credits@council.example>")
    mailer.send(
        Message(to="ann@example.org", subject="Hello", body="See https://x.example/a.\n", kind="t")
    )
    mailer.send_soon([Message(to="bob@example.org", subject="Héllo £5", body="Bob\n", kind="u")])
    found = read_outbox(tmp_path / "mail")
    assert [m.to for m in found] == ["ann@example.org", "bob@example.org"]
    assert found[0].link() == "https://x.example/a"
    assert found[1].subject == "Héllo £5" and found[1].kind == "u"
    assert found[0].raw["From"] == "Credits <credits@council.example>"
    assert found[0].raw["Auto-Submitted"] == "auto-generated"
    assert read_outbox(tmp_path / "mail", to="BOB@example.org")[0].to == "bob@example.org"
    assert read_outbox(tmp_path / "nowhere") == []


def test_build_mailer_follows_the_settings(tmp_path: Path):
    files = build_mailer(Settings.load({"INSTANCE_PATH": str(tmp_path)}))
    assert isinstance(files, FileMailer) and files.folder == tmp_path / "mail"
    smtp = build_mailer(
        Settings.load(
            {"INSTANCE_PATH": str(tmp_path), "SMTP_URL": "smtp+starttls://u:p%40ss@mail.example"}
        )
    )
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == (
        "mail.example",
        587,
        "u",
        "p@ss",
    )


@pytest.mark.parametrize(
    "url",
    ["http://mail.example", "smtp://user:secret@mail.example:25", "mail.example"],
)
def test_unsafe_or_unknown_smtp_urls_are_refused(url):
    with pytest.raises(ValueError):
        SmtpMailer(url, "x@example.org")


class FakeSmtpServer:
    """Just enough SMTP to accept one message (EHLO, MAIL, RCPT, DATA, QUIT)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        f = conn.makefile("rwb")

        def say(line: str) -> None:
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 fake ESMTP")
        data = False
        body: list[bytes] = []
        for raw in f:
            if data:
                if raw == b".\r\n":
                    data = False
                    self.received.append(b"".join(body))
                    say("250 queued")
                else:
                    body.append(raw)
                continue
            cmd = raw.decode().strip().upper()
            if cmd.startswith("EHLO"):
                say("250 fake")
            elif cmd.startswith(("MAIL", "RCPT")):
                say("250 ok")
            elif cmd == "DATA":
                data = True
                say("354 go ahead")
            elif cmd == "QUIT":
                say("221 bye")
                break
            else:
                say("502 no")
        conn.close()
        self.sock.close()


def test_smtp_mailer_hands_the_message_to_the_server():
    server = FakeSmtpServer()
    mailer = SmtpMailer(f"smtp://127.0.0.1:{server.port}", "Credits <credits@council.example>")
    mailer.send(Message(to="ann@example.org", subject="Your link", body="Dear Ann\n"))
    server.thread.join(5)
    assert b"Subject: Your link" in server.received[0] and b"Dear Ann" in server.received[0]


def test_smtp_mailer_uses_starttls_before_logging_in(monkeypatch):
    calls = []

    class Recorder:
        def __init__(self, host, port, timeout):
            calls.append(("connect", host, port))

        def starttls(self, context):
            calls.append(("starttls",))

        def login(self, user, password):
            calls.append(("login", user, password))

        def send_message(self, msg):
            calls.append(("send", msg["To"]))

        def __enter__(self):
            return self

        def __exit__(self, *a):
            calls.append(("quit",))

    monkeypatch.setattr("smtplib.SMTP", Recorder)
    SmtpMailer("smtp+starttls://me:pw@mail.example", "x@example.org").send(
        Message(to="ann@example.org", subject="s", body="b")
    )
    assert calls == [
        ("connect", "mail.example", 587),
        ("starttls",),
        ("login", "me", "pw"),
        ("send", "ann@example.org"),
        ("quit",),
    ]


def test_an_unreachable_server_is_a_mail_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    with pytest.raises(MailError):
        SmtpMailer(f"smtp://127.0.0.1:{port}", "x@example.org").send(
            Message(to="a@example.org", subject="s", body="b")
        )
