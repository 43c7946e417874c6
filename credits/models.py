"""Imports every table module so that SQLModel.metadata knows them all (Alembic, tests).

A new capability adds its models module here.
"""

from credits import jobs, ratelimit  # noqa: F401
from credits.accounts import links as accounts_links  # noqa: F401
from credits.accounts import models as accounts_models  # noqa: F401
from credits.accounts import sessions as accounts_sessions  # noqa: F401
from credits.adjustments import models as adjustments_models  # noqa: F401
from credits.audit import models as audit_models  # noqa: F401
from credits.earning import models as earning_models  # noqa: F401
from credits.ledger import models as ledger_models  # noqa: F401
from credits.open import models as open_models  # noqa: F401
from credits.operations import models as operations_models  # noqa: F401
from credits.redemption import models as redemption_models  # noqa: F401
from credits.settlement import models as settlement_models  # noqa: F401
from credits.shops import models as shops_models  # noqa: F401
from credits.statements import models as statements_models  # noqa: F401
from credits.vouchers import models as vouchers_models  # noqa: F401
