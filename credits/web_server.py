"""How gunicorn serves the app: request limits, an access log without secrets, and
problem+json for the requests gunicorn refuses before the app sees them.

deploy/gunicorn.conf.py (production) and ``credits serve`` (the embedded default) both use
:data:`SETTINGS`.

**The access log** (:class:`RedactingLogger`) never holds a secret. Secrets travel in
headers (``Authorization``, cookies) and bodies (passwords, voucher codes), which the log
format does not include; but URLs do reach it — the request line, the query string and the
``Referer`` — and an emailed link carries its token in its query string. So every query
value is written as ``REDACTED`` unless its parameter is on :data:`SAFE_QUERY_PARAMS`
(page numbers, filters, dates: nothing secret or personal), and any header or environment
atom that could hold a credential is redacted whole. The link pages also move the token
out of the URL at once (credits/web/account.py), so the browser's address bar, history and
later ``Referer`` headers lose it too.

**Limits.** gunicorn refuses a request line over ``limit_request_line`` bytes, more than
``limit_request_fields`` headers or a header over ``limit_request_field_size`` bytes before
the app is called; bodies over 64 KiB are refused by the app (413). :class:`ProblemJsonWorker`
answers gunicorn's own refusals as problem+json with a ``code`` (414 ``uri_too_long``, 431
``header_fields_too_large``, 400 ``bad_request``) instead of gunicorn's HTML page, so every
error a client can cause under /api/v1 is problem+json, as contract v1 promises.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.http import errors as http_errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.sync import SyncWorker

#: Query parameters whose values may be logged: numbers, enumerations, dates, ids. Every
#: other value (``token``, ``q``, ``next``...) is written as :data:`REDACTED`.
SAFE_QUERY_PARAMS = frozenset(
    {
        "page",
        "per_page",
        "limit",
        "offset",
        "before",
        "state",
        "status",
        "stage",
        "role",
        "active",
        "shop",
        "format",
        "paper",
        "month",
        "since",
        "until",
        "person_id",
        "action",
        "kind",
    }
)
REDACTED = "REDACTED"

#: gunicorn settings both ways of serving use (deploy/gunicorn.conf.py, ``credits serve``).
SETTINGS: dict[str, Any] = {
    "logger_class": "credits.web_server.RedactingLogger",
    "worker_class": "credits.web_server.ProblemJsonWorker",
    # gunicorn's defaults, written out: a request line of 4 KiB is longer than any URL the
    # API or the pages make; 100 headers of 8 KiB each are far more than any browser sends.
    "limit_request_line": 4094,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
}


def redact_url(url: str) -> str:
    """``url`` (a path with a query, a request line's target, a full URL) with every query
    value not on :data:`SAFE_QUERY_PARAMS` replaced by :data:`REDACTED`."""
    if "?" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


def redact_query(query: str) -> str:
    """A query string with the values of parameters not on :data:`SAFE_QUERY_PARAMS`
    redacted (the names stay: they tell what was asked without saying the secret); a part
    that is not ``name=value`` is redacted whole. Safe values are kept as they came."""
    if not query:
        return query
    out = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if not sep:
            out.append(REDACTED)
        else:
            out.append(f"{name}={value if unquote_plus(name) in SAFE_QUERY_PARAMS else REDACTED}")
    return "&".join(out)


def _redact_request_line(line: str) -> str:
    method, _, rest = line.partition(" ")
    target, _, protocol = rest.rpartition(" ")
    if not target:  # no protocol: the whole rest is the target
        target, protocol = rest, ""
    return " ".join(p for p in (method, redact_url(target), protocol) if p)


#: Atoms (and header or environment atoms) that are, or may be, URLs.
_URL_ATOMS = frozenset(
    {"f", "{referer}i", "{location}o", "{http_referer}e", "{raw_uri}e", "{request_uri}e"}
)
_QUERY_ATOMS = frozenset({"q", "{query_string}e"})
#: Substrings of header or environment atom names that carry credentials.
_CREDENTIAL_NAMES = ("authorization", "cookie", "token", "secret", "password", "api-key")


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the access log's atoms redacted (see the module docstring)."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        """gunicorn's atoms for the access-log line, with secrets taken out."""
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name, value in list(atoms.items()):
            if not isinstance(value, str):
                continue
            if name == "r":
                atoms[name] = _redact_request_line(value)
            elif name in _QUERY_ATOMS:
                atoms[name] = redact_query(value)
            elif name in _URL_ATOMS:
                atoms[name] = redact_url(value)
            elif name.startswith("{") and any(c in name for c in _CREDENTIAL_NAMES):
                atoms[name] = REDACTED
        return atoms


#: gunicorn's refusals of a malformed or oversized request: exception → (status, reason,
#: code, what to tell the client).
_REFUSALS: tuple[tuple[type[Exception], int, str, str, str], ...] = (
    (
        http_errors.LimitRequestLine,
        414,
        "URI Too Long",
        "uri_too_long",
        "The address (request line) is longer than this server accepts.",
    ),
    (
        http_errors.LimitRequestHeaders,
        431,
        "Request Header Fields Too Large",
        "header_fields_too_large",
        "Too many request headers, or one too large.",
    ),
    (
        http_errors.ForbiddenProxyRequest,
        403,
        "Forbidden",
        "forbidden",
        "Proxy requests are not accepted from this address.",
    ),
    (
        http_errors.ParseException,
        400,
        "Bad Request",
        "bad_request",
        "The request is not valid HTTP.",
    ),
)


#: Not the client's malformed request (the server's own fault, or a protocol feature we do
#: not offer): gunicorn's own answer stands.
_LEFT_TO_GUNICORN = (
    http_errors.ConfigurationProblem,
    http_errors.InvalidResponseHeader,
    http_errors.InvalidResponseHeaderName,
    http_errors.UnsupportedTransferCoding,
    http_errors.ExpectationFailed,
)


def problem_response(status: int, reason: str, code: str, detail: str) -> bytes:
    """A complete HTTP/1.1 response carrying an RFC 9457 problem (the connection closes)."""
    body = json.dumps(
        {
            "type": f"https://cooperative-credits.example/problems/{code}",
            "title": reason,
            "status": status,
            "code": code,
            "detail": detail,
        }
    ).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class ProblemJsonWorker(SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker, answering the requests gunicorn refuses itself (too long,
    too many headers, not HTTP) with problem+json instead of an HTML page. Anything else
    (an error inside gunicorn) is left to gunicorn."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Answer a refused request as problem+json; log its kind, never its content (a
        malformed request line may carry a link's token)."""
        started = datetime.now(UTC)
        refusal = next((r for r in _REFUSALS if isinstance(exc, r[0])), None)
        if refusal is None or isinstance(exc, _LEFT_TO_GUNICORN):
            super().handle_error(req, client, addr, exc)
            return
        _, status, reason, code, detail = refusal
        addr = addr or ("", -1)
        self.log.warning("Refused a request from ip=%s: %s (%d)", addr[0], code, status)
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"] = addr[0]
            environ["REMOTE_PORT"] = str(addr[1])
            resp = Response(req, client, self.cfg)
            resp.status = f"{status} {reason}"
            resp.response_length = 0
            self.log.access(resp, req, environ, datetime.now(UTC) - started)
        try:
            util.write_nonblock(client, problem_response(status, reason, code, detail))
        except Exception:
            self.log.debug("Failed to send error message.")
