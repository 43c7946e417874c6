"""Paying the shops: payees, settlement runs, payments files, remittances, and reconciling
what the bank paid (docs/settlement.md). No Flask imports: the API, the pages and the
command line call these use cases inside a unit of work.

The invariant (proved by `credits verify`, credits.settlement.checks): the
``scheme:settled`` account holds exactly the credits of the approved runs, each paid shop
of an approved run is exactly one balanced ``settlement`` entry (its account ``−credits``,
settled ``+credits``), and so every shop's balance is exactly what is still unsettled.

Modules, by what they decide:

- ``bankdetails`` — are these bank details valid (Vocalink modulus, IBAN), and the masks;
- ``payees`` — a shop's bank details, four eyes on every change;
- ``amounts`` — the rounding rule: credits × rate in pence;
- ``unsettled`` — what each shop has not been settled for, by month taken in;
- ``runs`` — starting, approving and cancelling a settlement run;
- ``files`` — the payments file (CSV, pain.001), signed;
- ``remittance`` — each shop's remittance advice (data, PDF, email);
- ``bankfile`` — reading camt.053 and CSV bank statements;
- ``reconciliation`` — matching the bank's payments to settled shops; the mismatches;
- ``figures`` — a month's settled / paid / unpaid-owed figures (statements, open data);
- ``checks`` — what `credits verify` checks.
"""

from credits.settlement.figures import MonthSettlement, ShopSettlement, month_figures
from credits.settlement.runs import Policy, approve_run, cancel_run, create_run, load_run

__all__ = [
    "MonthSettlement",
    "Policy",
    "ShopSettlement",
    "approve_run",
    "cancel_run",
    "create_run",
    "load_run",
    "month_figures",
]
