"""Who may call each earning endpoint: allowed exactly where they should be.

Actors: no token, a member (Ann, in the snow team), the snow team's coordinator (Cara),
a coordinator of another group (Gus, the Good Gym), shop staff, an officer. A caller
without the right role gets 401/403 whatever body it sends (here: a body that would not
even parse), and nothing changes. Allowed roles get their answer — which for a coordinator
of another group is "not found" or "not your group" on someone else's people.
"""

import pytest
from sqlalchemy import text

from .conftest import yesterday

ACTORS = ("anon", "member", "coord", "other_coord", "shop", "officer")
GARBAGE = {"this is": ["not", "a", "valid", "body"]}


def _person(scheme, actor):
    return {
        "member": scheme.ann,
        "coord": scheme.coord,
        "other_coord": scheme.other_coord,
        "shop": scheme.shop,
        "officer": scheme.officer,
    }.get(actor)


def _body(scheme, name, actor):
    day = yesterday().isoformat()
    return {
        "earn": {
            "member_email": scheme.ann.email,
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": day,
            "idempotency_key": f"roles-{actor}",
        },
        "bulk": {
            "activity": "snow-clearing",
            "occurred_on": day,
            "idempotency_key": f"roles-bulk-{actor}",
            "lines": [{"member_email": scheme.ann.email, "quantity": "1"}],
        },
        "claim": {
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": day,
            "idempotency_key": f"roles-claim-{actor}",
        },
        "approve": {"idempotency_key": f"roles-approve-{actor}"},
        "reject": {"reason": "not on the rota"},
        "activity": {
            "slug": f"activity-{actor.replace('_', '-')}",
            "name": "A new activity",
            "unit": "session",
            "credits_per_unit": 5,
            "week_cap_credits": 10,
            "month_cap_credits": 20,
            "monthly_budget_credits": 100,
        },
        "patch_activity": {"description": "Now with more grit"},
        "budget": {"budget_credits": 900},
        "settings": {"four_eyes_threshold_credits": 60},
        "group": {"name": f"Group {actor}", "activities": ["speed-watch"]},
        "patch_group": {"description": "Acre Lane and Coldharbour Lane"},
        "email_member": {"email": scheme.outsider.email},
        "email_coordinator": {"email": scheme.coord2.email},
    }[name]


# endpoint: (method, path template, body name or None, {actor: expected status})
# {claim} is a fresh pending claim by Ann (the snow team); {team} the snow team.
# 403 means the role may not call the endpoint at all (decided before the body is read);
# NOT_YOURS means the role may, but not for this group's people or activities (403 after a
# valid body is read, changing nothing).
OK = 200
NOT_YOURS = "403 not yours"
MATRIX = {
    "record earning": (
        "post",
        "/api/v1/earnings",
        "earn",
        {"member": 403, "coord": 201, "other_coord": NOT_YOURS, "shop": 403, "officer": 403},
    ),
    "record a session sheet": (
        "post",
        "/api/v1/earnings/bulk",
        "bulk",
        {"member": 403, "coord": 201, "other_coord": NOT_YOURS, "shop": 403, "officer": 403},
    ),
    "approval queue": (
        "get",
        "/api/v1/earnings/queue",
        None,
        {"member": 403, "coord": OK, "other_coord": OK, "shop": 403, "officer": OK},
    ),
    "read an award": (
        "get",
        "/api/v1/earnings/{claim}",
        None,
        {"member": 403, "coord": OK, "other_coord": 404, "shop": 403, "officer": OK},
    ),
    "approve": (
        "post",
        "/api/v1/earnings/{claim}/approve",
        "approve",
        {"member": 403, "coord": OK, "other_coord": 404, "shop": 403, "officer": OK},
    ),
    "reject": (
        "post",
        "/api/v1/earnings/{claim}/reject",
        "reject",
        {"member": 403, "coord": OK, "other_coord": 404, "shop": 403, "officer": OK},
    ),
    "file a claim": (
        "post",
        "/api/v1/claims",
        "claim",
        {"member": 201, "coord": 403, "other_coord": 403, "shop": 403, "officer": 403},
    ),
    "list my claims": (
        "get",
        "/api/v1/claims",
        None,
        {"member": OK, "coord": 403, "other_coord": 403, "shop": 403, "officer": 403},
    ),
    "read my claim": (
        "get",
        "/api/v1/claims/{claim}",
        None,
        {"member": OK, "coord": 403, "other_coord": 403, "shop": 403, "officer": 403},
    ),
    "my entries": (
        "get",
        "/api/v1/me/entries",
        None,
        {"member": OK, "coord": 403, "other_coord": 403, "shop": 403, "officer": 403},
    ),
    "list activities": (
        "get",
        "/api/v1/activities",
        None,
        {"member": OK, "coord": OK, "other_coord": OK, "shop": 403, "officer": OK},
    ),
    "read an activity": (
        "get",
        "/api/v1/activities/snow-clearing",
        None,
        {"member": OK, "coord": OK, "other_coord": OK, "shop": 403, "officer": OK},
    ),
    "create an activity": (
        "post",
        "/api/v1/activities",
        "activity",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": 201},
    ),
    "change an activity": (
        "patch",
        "/api/v1/activities/snow-clearing",
        "patch_activity",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "list budgets": (
        "get",
        "/api/v1/activities/snow-clearing/budgets",
        None,
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "read a budget": (
        "get",
        "/api/v1/activities/snow-clearing/budgets/2026-11",
        None,
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "set a budget": (
        "put",
        "/api/v1/activities/snow-clearing/budgets/2026-12",
        "budget",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "read settings": (
        "get",
        "/api/v1/earning-settings",
        None,
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "change settings": (
        "put",
        "/api/v1/earning-settings",
        "settings",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "list groups": (
        "get",
        "/api/v1/groups",
        None,
        {"member": 403, "coord": OK, "other_coord": OK, "shop": 403, "officer": OK},
    ),
    "create a group": (
        "post",
        "/api/v1/groups",
        "group",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": 201},
    ),
    "read a group": (
        "get",
        "/api/v1/groups/{team}",
        None,
        {"member": 403, "coord": OK, "other_coord": 404, "shop": 403, "officer": OK},
    ),
    "change a group": (
        "patch",
        "/api/v1/groups/{team}",
        "patch_group",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "add a member": (
        "post",
        "/api/v1/groups/{team}/members",
        "email_member",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "remove a member": (
        "delete",
        "/api/v1/groups/{team}/members/{bola}",
        None,
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "add a coordinator": (
        "post",
        "/api/v1/groups/{team}/coordinators",
        "email_coordinator",
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
    "remove a coordinator": (
        "delete",
        "/api/v1/groups/{team}/coordinators/{coord2}",
        None,
        {"member": 403, "coord": 403, "other_coord": 403, "shop": 403, "officer": OK},
    ),
}


def _state(db):
    with db.read() as s:
        return [
            s.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
            for t in (
                "journal_entry",
                "award",
                "activity",
                "activity_budget",
                "earning_settings",
                "volunteer_group",
                "volunteer_group_member",
                "volunteer_group_coordinator",
            )
        ]


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_each_role_is_allowed_exactly_where_it_should_be(client, scheme, db, endpoint):
    method, template, body_name, expected = MATRIX[endpoint]
    call = getattr(client, method)
    # Denied callers first: they must change nothing, whatever they send.
    for actor in ACTORS:
        status = 401 if actor == "anon" else expected[actor]
        if status not in (401, 403):
            continue
        claim = scheme.claim(key=f"denied-{actor}")
        path = template.format(
            claim=claim.id, team=scheme.snow_team, bola=scheme.bola.id, coord2=scheme.coord2.id
        )
        before = _state(db)
        who = _person(scheme, actor)
        kwargs = {"headers": who.auth if who else {}}
        if method in ("post", "put", "patch"):
            kwargs["json"] = GARBAGE
        resp = call(path, **kwargs)
        assert resp.status_code == status, (endpoint, actor, resp.get_json())
        code = resp.get_json()["code"]
        assert code == ("unauthorized" if status == 401 else "forbidden"), (endpoint, actor)
        assert _state(db) == before, (endpoint, actor)
    # Allowed callers, each on fresh objects.
    for actor in ACTORS:
        if actor == "anon" or expected[actor] in (401, 403):
            continue
        claim = scheme.claim(key=f"allowed-{actor}")
        path = template.format(
            claim=claim.id, team=scheme.snow_team, bola=scheme.bola.id, coord2=scheme.coord2.id
        )
        who = _person(scheme, actor)
        kwargs = {"headers": who.auth}
        if body_name:
            kwargs["json"] = _body(scheme, body_name, actor)
        before = _state(db)
        resp = call(path, **kwargs)
        want = 403 if expected[actor] == NOT_YOURS else expected[actor]
        assert resp.status_code == want, (endpoint, actor, resp.get_json())
        if expected[actor] in (404, NOT_YOURS):
            code = resp.get_json()["code"]
            assert code == ("not_found" if want == 404 else "forbidden"), (endpoint, actor)
            assert _state(db) == before


def test_a_coordinator_of_another_group_sees_none_of_its_people(client, scheme):
    scheme.claim()
    scheme.record(quantity="1")
    queue = client.get("/api/v1/earnings/queue", headers=scheme.other_coord.auth).get_json()
    assert queue["items"] == []
    groups = client.get("/api/v1/groups", headers=scheme.other_coord.auth).get_json()["items"]
    assert [g["name"] for g in groups] == ["Brixton Good Gym"]
    assert all("members" not in g for g in groups)
    gym = client.get(f"/api/v1/groups/{scheme.gym_group}", headers=scheme.other_coord.auth)
    assert [m["name"] for m in gym.get_json()["members"]] == ["Zed Zephyr"]


def test_the_matrix_covers_every_earning_endpoint(app):
    """A new earning endpoint without a row in the matrix fails here."""
    prefixes = (
        "/api/v1/earnings",
        "/api/v1/claims",
        "/api/v1/activities",
        "/api/v1/groups",
        "/api/v1/earning-settings",
        "/api/v1/me/entries",
    )
    routes = {
        (method.lower(), rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(prefixes)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    def normalise(path):
        import re

        return re.sub(r"<(?:\w+:)?(\w+)>", "{x}", path)

    covered = {
        (
            m,
            normalise(
                p.replace("{claim}", "<a>")
                .replace("{team}", "<t>")
                .replace("{bola}", "<b>")
                .replace("{coord2}", "<c>")
            ),
        )
        for m, p, _, _ in MATRIX.values()
    }
    routes = {(m, normalise(p)) for m, p in routes}
    covered = {
        (m, p.replace("snow-clearing", "{x}").replace("2026-11", "{x}").replace("2026-12", "{x}"))
        for m, p in covered
    }
    assert routes <= covered, sorted(routes - covered)
