"""Every CreditsError subclass is answered with the status contract v1 gave it.

Domain errors no longer carry an HTTP status: the edge (credits/api/problems.py) maps each
error class to one. EXPECTED was dumped from the classes' own ``status`` attributes before
the mapping moved to the edge, so a class whose answer changes fails here. A new error class
must be added to EXPECTED with the status its code is documented with.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import credits
from credits.api.problems import status_of
from credits.errors import CreditsError

#: Modules not imported for the walk: wsgi builds an app from the environment, migrations
#: are Alembic scripts, __main__ runs a command.
SKIP = ("credits.wsgi", "credits.migrations", "credits.bench.__main__")

#: "module.Class": (code, status), frozen from the statuses before they moved to the edge.
EXPECTED: dict[str, tuple[str, int]] = {
    "credits.erasure.ErasureRefused": ("erasure_refused", 409),
    "credits.accounts.links.LinkExpired": ("link_expired", 410),
    "credits.accounts.links.LinkInvalid": ("link_invalid", 404),
    "credits.accounts.links.LinkUsed": ("link_used", 410),
    "credits.accounts.people.EmailNotConfirmed": ("email_not_confirmed", 409),
    "credits.accounts.people.WrongStatus": ("wrong_status", 409),
    "credits.accounts.service.PersonExists": ("person_exists", 409),
    "credits.accounts.sessions.SignInFailed": ("sign_in_failed", 401),
    "credits.accounts.tokens.TooManyTokens": ("too_many_tokens", 409),
    "credits.adjustments.errors.AdjustmentNotFound": ("not_found", 404),
    "credits.adjustments.errors.AdjustmentNotPending": ("adjustment_not_pending", 409),
    "credits.adjustments.errors.SecondOfficerRequired": ("second_approver_required", 403),
    "credits.adjustments.errors.SelfAdjustment": ("self_adjustment", 403),
    "credits.adjustments.errors.UnknownMember": ("unknown_member", 422),
    "credits.earning.request_checks.FieldProblems": ("validation_error", 422),
    "credits.earning.dates.InvalidDate": ("validation_error", 422),
    "credits.earning.errors.ActivityExists": ("activity_exists", 409),
    "credits.earning.errors.ActivityInactive": ("activity_inactive", 422),
    "credits.earning.errors.ActivityNotFound": ("not_found", 404),
    "credits.earning.errors.AwardNotFound": ("not_found", 404),
    "credits.earning.errors.AwardNotPending": ("award_not_pending", 409),
    "credits.earning.errors.BudgetExceeded": ("budget_exceeded", 409),
    "credits.earning.errors.CapExceeded": ("cap_exceeded", 409),
    "credits.earning.errors.GroupExists": ("group_exists", 409),
    "credits.earning.errors.GroupNotFound": ("not_found", 404),
    "credits.earning.errors.LinesRefused": ("lines_refused", 422),
    "credits.earning.errors.NotInGroup": ("not_in_group", 422),
    "credits.earning.errors.NotYourGroup": ("forbidden", 403),
    "credits.earning.errors.SecondApproverRequired": ("second_approver_required", 403),
    "credits.earning.errors.SelfAward": ("self_award", 403),
    "credits.earning.errors.UnknownActivity": ("unknown_activity", 422),
    "credits.earning.errors.UnknownMember": ("unknown_member", 422),
    "credits.earning.quantities.InvalidQuantity": ("validation_error", 422),
    "credits.errors.Conflict": ("conflict", 409),
    "credits.errors.CreditsError": ("error", 400),
    "credits.errors.Forbidden": ("forbidden", 403),
    "credits.errors.IdempotencyConflict": ("idempotency_conflict", 409),
    "credits.errors.InsufficientFunds": ("insufficient_funds", 409),
    "credits.errors.NotFound": ("not_found", 404),
    "credits.errors.PeriodClosed": ("period_closed", 409),
    "credits.errors.Unauthorized": ("unauthorized", 401),
    "credits.errors.Unavailable": ("unavailable", 503),
    "credits.errors.ValidationFailed": ("validation_error", 422),
    "credits.jobs.JobRunning": ("job_running", 409),
    "credits.ledger.errors.AlreadyReversed": ("already_reversed", 409),
    "credits.ledger.errors.EntryNotFound": ("not_found", 404),
    "credits.ledger.errors.InvalidEntry": ("validation_error", 422),
    "credits.ledger.errors.UnknownAccount": ("unknown_account", 422),
    "credits.open.holds.AlreadyHeld": ("already_held", 409),
    "credits.open.holds.NotHeld": ("not_held", 409),
    "credits.open.service.PublicationHeld": ("publication_held", 404),
    "credits.ratelimit.RateLimited": ("rate_limited", 429),
    "credits.redemption.claims.ClaimNotHeld": ("claim_not_held", 409),
    "credits.redemption.errors.AmountExceedsVoucher": ("amount_exceeds_voucher", 422),
    "credits.redemption.errors.OfflineLimitExceeded": ("offline_limit_exceeded", 422),
    "credits.redemption.manage.RedemptionReversed": ("already_reversed", 409),
    "credits.settlement.errors.AlreadySettled": ("already_settled", 409),
    "credits.settlement.errors.BankFileInvalid": ("bank_file_invalid", 422),
    "credits.settlement.errors.InvalidBankDetails": ("invalid_bank_details", 422),
    "credits.settlement.errors.MismatchResolved": ("mismatch_resolved", 409),
    "credits.settlement.errors.MonthNotClosed": ("month_not_closed", 409),
    "credits.settlement.errors.PayeeChangeNotPending": ("payee_change_not_pending", 409),
    "credits.settlement.errors.PayeeDetailsChanged": ("payee_details_changed", 409),
    "credits.settlement.errors.PayeeDetailsMissing": ("payee_details_missing", 409),
    "credits.settlement.errors.PayerAccountMissing": ("payer_account_missing", 409),
    "credits.settlement.errors.RateNotSet": ("rate_not_set", 409),
    "credits.settlement.errors.RemittanceNotFound": ("not_found", 404),
    "credits.settlement.errors.RunNotApproved": ("settlement_not_approved", 409),
    "credits.settlement.errors.RunNotFound": ("not_found", 404),
    "credits.settlement.errors.RunNotPending": ("settlement_not_pending", 409),
    "credits.settlement.errors.RunPending": ("settlement_pending", 409),
    "credits.settlement.errors.SecondApproverRequired": ("second_approver_required", 403),
    "credits.settlement.payees.PayeeChangePending": ("payee_change_pending", 409),
    "credits.shops.service.ShopExists": ("shop_exists", 409),
    "credits.shops.service.TerminalExists": ("terminal_exists", 409),
    "credits.statements.close.AlreadyClosed": ("period_closed", 409),
    "credits.statements.close.CloseRefused": ("checks_failed", 409),
    "credits.statements.close.EarlierMonthOpen": ("earlier_month_open", 409),
    "credits.statements.close_runs.RunInProgress": ("close_in_progress", 409),
    "credits.vouchers.errors.AlreadyRedeemed": ("already_redeemed", 409),
    "credits.vouchers.errors.CodeRefused": ("error", 422),
    "credits.vouchers.errors.InvalidAmount": ("validation_error", 422),
    "credits.vouchers.errors.InvalidSignature": ("invalid_signature", 422),
    "credits.vouchers.errors.KeyringError": ("key_refused", 409),
    "credits.vouchers.errors.MalformedCode": ("malformed_code", 422),
    "credits.vouchers.errors.TooManyOpenVouchers": ("too_many_open_vouchers", 409),
    "credits.vouchers.errors.UnknownKey": ("unknown_key", 422),
    "credits.vouchers.errors.VoucherCancelled": ("voucher_cancelled", 409),
    "credits.vouchers.errors.VoucherExpired": ("expired", 409),
    "credits.vouchers.errors.VoucherNotFound": ("not_found", 404),
    "credits.vouchers.errors.VoucherNotOpen": ("expired", 409),
    "credits.accounts.people.MemberNotFound": ("not_found", 404),
}


def _import_all() -> None:
    for info in pkgutil.walk_packages(credits.__path__, "credits."):
        if not info.name.startswith(SKIP):
            importlib.import_module(info.name)


def _subclasses(cls: type[CreditsError]) -> list[type[CreditsError]]:
    found: list[type[CreditsError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _error_classes() -> dict[str, type[CreditsError]]:
    _import_all()
    classes = [CreditsError, *_subclasses(CreditsError)]
    return {
        f"{c.__module__}.{c.__qualname__}": c
        for c in classes
        # Test modules may define their own subclasses; only the product's count.
        if c.__module__.startswith("credits.")
    }


def test_every_error_class_is_in_the_frozen_table() -> None:
    assert sorted(_error_classes()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_error_class_keeps_its_code_and_status(name: str) -> None:
    cls = _error_classes()[name]
    assert (cls.code, status_of(cls)) == EXPECTED[name]


def test_an_instance_maps_like_its_class() -> None:
    from credits.errors import NotFound

    assert status_of(NotFound("no such thing")) == 404


def test_errors_carry_no_status_of_their_own() -> None:
    for name, cls in _error_classes().items():
        assert "status" not in vars(cls), f"{name} sets an HTTP status: map it in problems.py"
