"""Settlement failures a user can cause. Each maps to a problem+json ``code``."""

from __future__ import annotations

from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed


class MonthNotClosed(Conflict):
    code = "month_not_closed"
    title = "Only a closed month can be settled"


class AlreadySettled(Conflict):
    code = "already_settled"
    title = "That month is already settled (or has a run)"


class SecondApproverRequired(Forbidden):
    code = "second_approver_required"
    title = "A different officer must approve this"


class PayeeDetailsMissing(Conflict):
    code = "payee_details_missing"
    title = "A shop to be paid has no approved bank details"


class PayeeDetailsChanged(Conflict):
    code = "payee_details_changed"
    title = "A shop's bank details changed after the run was computed"


class RunPending(Conflict):
    code = "settlement_pending"
    title = "Another settlement run is waiting for approval"


class RunNotPending(Conflict):
    code = "settlement_not_pending"
    title = "That settlement run is no longer waiting for approval"


class RunNotApproved(Conflict):
    code = "settlement_not_approved"
    title = "Payments files exist only for approved runs"


class RateNotSet(Conflict):
    code = "rate_not_set"
    title = "A month to be settled has no reimbursement rate"


class PayeeChangeNotPending(Conflict):
    code = "payee_change_not_pending"
    title = "That change of bank details has already been decided"


class PayerAccountMissing(Conflict):
    code = "payer_account_missing"
    title = "The council's own bank account is not configured"


class InvalidBankDetails(ValidationFailed):
    code = "invalid_bank_details"
    title = "Those bank details are not valid"


class BankFileInvalid(ValidationFailed):
    code = "bank_file_invalid"
    title = "The bank statement could not be read"


class MismatchResolved(Conflict):
    code = "mismatch_resolved"
    title = "That mismatch has already been resolved"


class RunNotFound(NotFound):
    title = "No such settlement run"


class RemittanceNotFound(NotFound):
    title = "No such remittance"
