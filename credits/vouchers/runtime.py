"""What the web, API and command line need to use vouchers: the keyring and the policies,
built from the settings once per process (and checked: bad settings fail at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from credits.config import Settings
from credits.vouchers.inactivity import InactivityPolicy
from credits.vouchers.keys import KeyRing, keyring_for
from credits.vouchers.service import VoucherPolicy


@dataclass(frozen=True)
class VoucherRuntime:
    keyring: KeyRing
    policy: VoucherPolicy
    inactivity: InactivityPolicy


_CACHE: dict[tuple[object, ...], VoucherRuntime] = {}


def runtime(settings: Settings) -> VoucherRuntime:
    """The keyring and policies for ``settings`` (the first call creates the first signing
    key if the instance folder has none)."""
    key = (
        settings.instance_path,
        settings.scheme_id,
        settings.voucher_expiry_days,
        settings.inactivity_months,
    )
    found = _CACHE.get(key)
    if found is None:
        ring = keyring_for(settings.instance_path)
        ring.ensure()
        found = VoucherRuntime(
            ring, VoucherPolicy.from_settings(settings), InactivityPolicy.from_settings(settings)
        )
        _CACHE[key] = found
    return found
