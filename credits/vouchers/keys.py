"""The scheme's voucher signing keys, kept in the instance folder — never in the database.

Layout (``<instance>/voucher-keys/``, mode 0700)::

    keyring.json     every key's public half and status (no secrets; mode 0600 anyway)
    <kid>.pem        an active or retired key's private half, PKCS#8 PEM, mode 0600
    .lock            flock'd while the keyring changes (several processes may start at once)

Lifecycle: the first run creates one ``active`` key. ``rotate`` makes a new active key and
``retires`` the previous one: a retired key signs nothing new but still verifies the
vouchers it signed until they expire (the trust list gives their last expiry as
``valid_until``). ``revoke`` is for a key that may have leaked: it verifies nothing from
then on and its private file is destroyed; if it was the active key a new one is made
first. Open vouchers signed by a revoked key are re-signed with the active key by the use
case that revokes it (credits.vouchers.service.revoke_key), so their holders lose nothing.

Private keys are never logged, printed, put in a ``repr`` or stored anywhere but their file.
Every process re-reads ``keyring.json`` when it changes, so `credits keys rotate` run from a
shell takes effect in running workers at their next request.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from credits.config import write_private_file
from credits.vouchers.code import TrustMap, kid_hex
from credits.vouchers.errors import KeyringError

log = logging.getLogger(__name__)

FOLDER = "voucher-keys"
INDEX = "keyring.json"
ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"
USE = "voucher"


def b64url(raw: bytes) -> str:
    """Base64url without padding (the trust list's encoding of a public key)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class KeyInfo:
    """A key's public half and status. Holds no secret."""

    kid: str
    status: str
    public_key_b64: str
    created_at: datetime
    retired_at: datetime | None = None
    revoked_at: datetime | None = None
    use: str = USE

    @property
    def public_key(self) -> Ed25519PublicKey:
        raw = base64.urlsafe_b64decode(self.public_key_b64 + "=" * (-len(self.public_key_b64) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)

    def as_json(self) -> dict[str, str | None]:
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        return {
            "kid": self.kid,
            "status": self.status,
            "use": self.use,
            "public_key": self.public_key_b64,
            "created_at": iso(self.created_at),
            "retired_at": iso(self.retired_at),
            "revoked_at": iso(self.revoked_at),
        }

    @classmethod
    def from_json(cls, d: dict[str, str | None]) -> KeyInfo:
        def t(v: str | None) -> datetime | None:
            return None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00"))

        created = t(d["created_at"])
        assert created is not None
        return cls(
            kid=str(d["kid"]),
            status=str(d["status"]),
            public_key_b64=str(d["public_key"]),
            created_at=created,
            retired_at=t(d.get("retired_at")),
            revoked_at=t(d.get("revoked_at")),
            use=str(d.get("use") or USE),
        )


@dataclass
class _Loaded:
    stamp: tuple[int, int, int]
    keys: list[KeyInfo]
    private: dict[str, Ed25519PrivateKey] = field(repr=False)


class KeyRing:
    """The signing keys of one instance folder. Use :func:`keyring_for` to get one."""

    def __init__(self, instance_path: Path) -> None:
        self.folder = Path(instance_path) / FOLDER
        self._loaded: _Loaded | None = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:  # never the keys themselves
        return f"KeyRing({str(self.folder)!r})"

    # --- reading ------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return self.folder / INDEX

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.index_path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _state(self) -> _Loaded:
        """The keyring as on disk (re-read only when keyring.json changed)."""
        stamp = self._stamp()
        loaded = self._loaded
        if stamp is not None and loaded is not None and loaded.stamp == stamp:
            return loaded
        with self._mutex:
            if stamp is None:
                self.ensure()
                stamp = self._stamp()
                assert stamp is not None
            keys = [KeyInfo.from_json(d) for d in json.loads(self.index_path.read_text())["keys"]]
            private: dict[str, Ed25519PrivateKey] = {}
            for info in keys:
                if info.status == REVOKED:
                    continue
                path = self.folder / f"{info.kid}.pem"
                if path.stat().st_mode & 0o077:  # someone loosened it: put it back
                    log.warning("key file for %s was readable by others; now 0600", info.kid)
                    os.chmod(path, 0o600)
                pem = path.read_bytes()
                key = load_pem_private_key(pem, password=None)
                if not isinstance(key, Ed25519PrivateKey) or kid_hex(key.public_key()) != info.kid:
                    raise RuntimeError(f"the private key file for {info.kid} does not match it")
                private[info.kid] = key
            self._loaded = _Loaded(stamp, keys, private)
            return self._loaded

    def list_keys(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        return list(self._state().keys)

    def get(self, kid: str) -> KeyInfo | None:
        return next((k for k in self._state().keys if k.kid == kid), None)

    def active(self) -> tuple[KeyInfo, Ed25519PrivateKey]:
        """The one key that signs new vouchers."""
        state = self._state()
        info = next(k for k in state.keys if k.status == ACTIVE)
        return info, state.private[info.kid]

    def signer(self, kid: str) -> Ed25519PrivateKey | None:
        """The private key of an active or retired key (to show a voucher it signed again);
        None for a revoked or unknown key."""
        return self._state().private.get(kid)

    def trust_map(self) -> TrustMap:
        """kid -> (public key, status), for :func:`credits.vouchers.code.verify_code`."""
        return {k.kid: (k.public_key, k.status) for k in self._state().keys if k.use == USE}

    # --- changing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read_index(self) -> list[KeyInfo]:
        if not self.index_path.exists():
            return []
        return [KeyInfo.from_json(d) for d in json.loads(self.index_path.read_text())["keys"]]

    def _write_index(self, keys: list[KeyInfo]) -> None:
        tmp = self.folder / f".{INDEX}.{os.getpid()}.tmp"
        body = json.dumps({"keys": [k.as_json() for k in keys]}, indent=2) + "\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_path)
        self._loaded = None

    def _new_key(self, now: datetime) -> KeyInfo:
        private = Ed25519PrivateKey.generate()
        kid = kid_hex(private.public_key())
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        if not write_private_file(self.folder / f"{kid}.pem", pem):
            raise RuntimeError(f"a key file for {kid} already exists")  # 2^-64: never
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        log.info("generated voucher signing key %s", kid)  # the kid only: never the key
        return KeyInfo(kid=kid, status=ACTIVE, public_key_b64=b64url(raw), created_at=now)

    def ensure(self) -> KeyInfo:
        """Make sure there is an active key (the first run creates it); return it."""
        with self._locked():
            keys = self._read_index()
            active = [k for k in keys if k.status == ACTIVE]
            if active:
                return active[0]
            new = self._new_key(_now())
            self._write_index([*keys, new])
            return new

    def rotate(self) -> tuple[KeyInfo, KeyInfo | None]:
        """Make a new active key and retire the previous one: (new key, retired key)."""
        with self._locked():
            now = _now()
            keys = self._read_index()
            retired = None
            out = []
            for k in keys:
                if k.status == ACTIVE:
                    k = retired = replace(k, status=RETIRED, retired_at=now)
                out.append(k)
            new = self._new_key(now)
            self._write_index([*out, new])
            log.info("voucher key rotated: %s active, %s retired", new.kid, retired and retired.kid)
            return new, retired

    def revoke(self, kid: str) -> tuple[KeyInfo, KeyInfo | None]:
        """Revoke ``kid``: it verifies nothing from now on and its private file is destroyed.
        Returns (the revoked key, the new active key if the revoked one was active)."""
        with self._locked():
            now = _now()
            keys = self._read_index()
            target = next((k for k in keys if k.kid == kid), None)
            if target is None:
                raise KeyringError(f"there is no voucher key {kid!r}")
            if target.status == REVOKED:
                raise KeyringError(f"key {kid} is already revoked")
            new = self._new_key(now) if target.status == ACTIVE else None
            revoked = replace(target, status=REVOKED, revoked_at=now)
            keys = [revoked if k.kid == kid else k for k in keys]
            self._write_index([*keys, *([new] if new else [])])
            _destroy(self.folder / f"{kid}.pem")
            log.warning("voucher key %s revoked", kid)
            return revoked, new


def _destroy(path: Path) -> None:
    """Overwrite then remove a private key file (best effort against recovery)."""
    try:
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.write(os.urandom(size))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
    except FileNotFoundError:
        pass


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


_RINGS: dict[Path, KeyRing] = {}
_RINGS_LOCK = threading.Lock()


def keyring_for(instance_path: Path | str) -> KeyRing:
    """The process's KeyRing for an instance folder (one object per folder)."""
    path = Path(instance_path).resolve()
    with _RINGS_LOCK:
        ring = _RINGS.get(path)
        if ring is None:
            ring = _RINGS[path] = KeyRing(path)
        return ring
