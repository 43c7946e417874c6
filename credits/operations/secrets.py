"""The instance folder's secrets in a backup: packed, then sealed with a passphrase.

What is packed: everything in the instance folder (the generated secret key, the voucher
and statement signing keys, and whatever secret a later capability keeps there) except the
SQLite database files (the backup copies the database itself), the development mail outbox
(``mail/``) and anything under the backup's own folder.

Sealing uses the ``cryptography`` library, nothing hand-made: a key is derived from the
passphrase with scrypt (n = 2**17, r = 8, p = 1: 128 MiB and a few tenths of a second, so a
stolen backup cannot be guessed at quickly), and the packed files are encrypted and
authenticated with AES-256-GCM under a random 96-bit nonce. The sealed file is::

    b"CCSEAL1\\n" | log2(n) r p (one byte each) | salt (16 bytes) | nonce (12) | ciphertext+tag

and the header (everything before the ciphertext) is the GCM associated data, so a changed
parameter, salt or byte anywhere fails authentication: a wrong passphrase and a damaged file
are both refused, never half-read.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"CCSEAL1\n"
LOG2_N, R, P = 17, 8, 1
SALT_BYTES, NONCE_BYTES = 16, 12
MIN_PASSPHRASE_CHARS = 12
#: More than this in an instance folder means something that is not a secret got in.
MAX_PACKED_BYTES = 64 * 1024 * 1024
#: Generated on first start when no CREDITS_SECRET_KEY is set: a restore may replace it.
REPLACEABLE = frozenset({"secret_key"})

_SKIPPED_SUFFIXES = (".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".sqlite3-journal")
_SKIPPED_FOLDERS = ("mail",)


class SealError(Exception):
    """The secrets cannot be sealed or unsealed (the message says why, for the operator)."""


def check_passphrase(passphrase: str | None) -> str:
    """The passphrase, if it is long enough to protect signing keys."""
    if not passphrase:
        raise SealError("set CREDITS_BACKUP_PASSPHRASE to seal or open the instance secrets")
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise SealError(
            f"CREDITS_BACKUP_PASSPHRASE is too short: use at least {MIN_PASSPHRASE_CHARS} "
            "characters (a few random words)"
        )
    return passphrase


def secret_files(instance: Path, *, exclude: Path | None = None) -> list[Path]:
    """The files to pack, relative to ``instance``, sorted."""
    found = []
    excluded = exclude.resolve() if exclude is not None else None
    for path in sorted(instance.rglob("*")):
        rel = path.relative_to(instance)
        if path.is_symlink() or not path.is_file():
            continue
        if rel.parts[0] in _SKIPPED_FOLDERS or path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        if excluded is not None and path.resolve().is_relative_to(excluded):
            continue
        found.append(rel)
    return found


def pack(instance: Path, *, exclude: Path | None = None) -> tuple[bytes, list[str]]:
    """A tar archive of the instance folder's secrets (modes kept), and their names."""
    buffer = io.BytesIO()
    names = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in secret_files(instance, exclude=exclude):
            tar.add(instance / rel, arcname=str(rel), recursive=False)
            names.append(str(rel))
            if buffer.tell() > MAX_PACKED_BYTES:
                raise SealError(f"the instance folder holds over {MAX_PACKED_BYTES} bytes")
    return buffer.getvalue(), names


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(passphrase.encode())


def seal(data: bytes, passphrase: str) -> bytes:
    """Encrypt and authenticate ``data`` under ``passphrase`` (module docstring)."""
    check_passphrase(passphrase)
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = MAGIC + bytes((LOG2_N, R, P)) + salt + nonce
    return header + AESGCM(_key(passphrase, salt, LOG2_N, R, P)).encrypt(nonce, data, header)


def unseal(sealed: bytes, passphrase: str) -> bytes:
    """The plaintext of :func:`seal`'s output; :class:`SealError` if the passphrase is
    wrong or a byte was changed."""
    check_passphrase(passphrase)
    fixed = len(MAGIC) + 3
    if len(sealed) < fixed + SALT_BYTES + NONCE_BYTES + 16 or not sealed.startswith(MAGIC):
        raise SealError("the sealed secrets file is not one this program wrote")
    log2_n, r, p = sealed[len(MAGIC) : fixed]
    if not (14 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise SealError("the sealed secrets file has parameters this program refuses")
    salt = sealed[fixed : fixed + SALT_BYTES]
    nonce = sealed[fixed + SALT_BYTES : fixed + SALT_BYTES + NONCE_BYTES]
    header = sealed[: fixed + SALT_BYTES + NONCE_BYTES]
    try:
        return AESGCM(_key(passphrase, salt, log2_n, r, p)).decrypt(
            nonce, sealed[len(header) :], header
        )
    except InvalidTag:
        raise SealError(
            "the instance secrets cannot be opened: wrong CREDITS_BACKUP_PASSPHRASE, or the "
            "file is damaged"
        ) from None


def unpacked(data: bytes) -> dict[str, tuple[bytes, int]]:
    """The packed files: relative name -> (content, mode). Refuses absolute names, ``..``
    and anything but regular files (a tampered archive cannot write outside the folder)."""
    files: dict[str, tuple[bytes, int]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or Path(member.name).is_absolute() or ".." in parts:
                raise SealError(f"the secrets archive holds an unsafe entry: {member.name!r}")
            fh = tar.extractfile(member)
            assert fh is not None
            files[member.name] = (fh.read(), member.mode & 0o777)
    return files


def conflicts(instance: Path, files: dict[str, tuple[bytes, int]]) -> list[str]:
    """Files that exist in ``instance`` with other content (a restore would overwrite
    another instance's keys), apart from :data:`REPLACEABLE` ones."""
    found = []
    for name, (content, _) in sorted(files.items()):
        target = instance / name
        if name in REPLACEABLE or not target.exists():
            continue
        if not target.is_file() or target.read_bytes() != content:
            found.append(name)
    return found


def write(instance: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Write the unpacked files into ``instance`` (folders 0700, files with their modes,
    owner-only at most), each atomically."""
    for name, (content, mode) in sorted(files.items()):
        target = instance / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.restore")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o600 or 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
