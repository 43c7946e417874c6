"""Officers' earning actions are in the audit log (issue 6: the audit log of officer actions)."""

from credits.accounts import Role


def test_activity_budget_group_and_settings_changes_are_audited(client, make_person):
    officer = make_person(Role.OFFICER)
    coord = make_person(Role.COORDINATOR)
    body = {
        "slug": "litter-pick",
        "name": "Litter pick",
        "unit": "session",
        "credits_per_unit": 5,
        "week_cap_credits": 10,
        "month_cap_credits": 20,
        "monthly_budget_credits": 100,
    }
    assert client.post("/api/v1/activities", json=body, headers=officer.auth).status_code == 201
    assert (
        client.patch(
            "/api/v1/activities/litter-pick", json={"credits_per_unit": 6}, headers=officer.auth
        ).status_code
        == 200
    )
    assert (
        client.put(
            "/api/v1/activities/litter-pick/budgets/2026-11",
            json={"budget_credits": 80},
            headers=officer.auth,
        ).status_code
        == 200
    )
    group = client.post(
        "/api/v1/groups",
        json={"name": "Litter team", "activities": ["litter-pick"]},
        headers=officer.auth,
    )
    assert group.status_code == 201, group.get_json()
    gid = group.get_json()["id"]
    assert client.post(
        f"/api/v1/groups/{gid}/coordinators", json={"email": coord.email}, headers=officer.auth
    ).status_code in (200, 201)
    assert (
        client.put(
            "/api/v1/earning-settings",
            json={"four_eyes_threshold_credits": 60},
            headers=officer.auth,
        ).status_code
        == 200
    )
    events = client.get("/api/v1/audit-events?per_page=100", headers=officer.auth).get_json()[
        "items"
    ]
    mine = [
        (e["action"], e["target_ref"])
        for e in events
        if e["actor"].startswith(f"person:{officer.id} ")
    ]
    assert ("activity.create", "activity:litter-pick") in mine
    assert ("activity.update", "activity:litter-pick") in mine
    assert ("budget.set", "activity:litter-pick") in mine
    assert ("group.create", f"group:{gid}") in mine
    assert ("group.add_coordinator", f"group:{gid}") in mine
    assert ("earning.settings", "earning-settings") in mine
