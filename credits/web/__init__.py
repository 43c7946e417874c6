"""Pages for volunteers, coordinators and officers: server-rendered HTML that works without
JavaScript, at 320 px wide, and with a screen reader. A capability adds its blueprint to
``_blueprints`` below; every page extends ``base.html``."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)


@bp.route("/")
def index() -> str:
    """The front page: what this is and where to go."""
    return render_template("index.html")


def _blueprints() -> list[Blueprint]:
    from credits.web.account import bp as account
    from credits.web.coordinator import bp as coordinator
    from credits.web.member import bp as member
    from credits.web.member_statement import bp as member_statement
    from credits.web.officer import bp as officer
    from credits.web.officer_adjustments import bp as officer_adjustments
    from credits.web.officer_earning import bp as officer_earning
    from credits.web.officer_exceptions import bp as officer_exceptions
    from credits.web.open import bp as open_pages
    from credits.web.pwa import bp as pwa
    from credits.web.settlements import bp as settlements
    from credits.web.settlements import shop_bp as remittances
    from credits.web.shops import bp as shops
    from credits.web.statements import bp as statements
    from credits.web.vouchers import bp as vouchers

    return [
        bp,
        account,
        officer,
        shops,
        statements,
        vouchers,
        member,
        member_statement,
        coordinator,
        officer_earning,
        officer_adjustments,
        officer_exceptions,
        settlements,
        remittances,
        open_pages,
        pwa,
    ]


def register_web(app: Flask) -> None:
    """Register the page blueprints, sign-in and CSRF protection."""
    from credits.web.auth import init_web_auth
    from credits.web.filters import register_filters
    from credits.web.i18n import init_i18n
    from credits.web.member import HOME_CONTEXT_PROVIDERS
    from credits.web.vouchers import home_context as voucher_home_context

    init_web_auth(app)
    init_i18n(app)
    register_filters(app)
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    # The member's home page shows what is held in vouchers: the registry belongs to the
    # pages that read it, so the pages fill it (the use cases know nothing of pages).
    if voucher_home_context not in HOME_CONTEXT_PROVIDERS:
        HOME_CONTEXT_PROVIDERS.append(voucher_home_context)
