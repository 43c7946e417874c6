"""`credits demo` earns the named members' credits through the earning use cases."""

import json

from sqlalchemy import select

from credits import earning
from credits.accounts import Person, Principal, Role
from credits.cli import main as cli
from credits.earning.models import T_AWARD


def test_the_demo_earns_through_activities_groups_and_approvals(runner, db, client):
    first = runner.invoke(cli, ["demo", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    with db.read() as s:
        slugs = [a.slug for a in earning.list_activities(s)]
        people = {p.email: p for p in s.execute(select(Person)).scalars()}
        ann, bola, chen = (people[m["email"]] for m in data["members"])
        histories = {who.name: earning.member_history(s, who.id)[0] for who in (ann, bola, chen)}
        pending = earning.queue(
            s,
            Principal(role=Role.OFFICER, name="o", person_id=people[data["officer"]["email"]].id),
            stage="first",
        )
    assert sorted(slugs) == ["good-gym-run", "snow-clearing", "speed-watch"]
    # This month's lines come first; the six months of history (credits.demo_history) after.
    ann_items = [i for i in histories["Ann Okafor"][:3] if i.activity_slug]
    assert [(i.activity_slug, i.amount) for i in ann_items] == [
        ("speed-watch", 40),
        ("snow-clearing", 40),
    ]
    # ...and the demo's voucher, turned from those credits, is the newest line.
    assert histories["Ann Okafor"][0].amount == -20
    assert all(i.approved_by == ("Cara Coordinator",) for i in ann_items)
    assert [(i.activity_slug, i.amount) for i in histories["Chen Li"][:2]] == [
        ("good-gym-run", 15),
        ("snow-clearing", 25),
    ]
    assert [(a.kind, a.member.name, a.activity.slug) for a in pending] == [
        ("claim", "Bola Adeyemi", "speed-watch")
    ]
    # The coordinator's token can act at once: the pending claim is in their queue.
    queue = client.get(
        "/api/v1/earnings/queue",
        headers={"Authorization": f"Bearer {data['coordinator']['token']}"},
    ).get_json()
    assert [c["member"]["name"] for c in queue["items"]] == ["Bola Adeyemi"]
    entries = client.get(
        "/api/v1/me/entries", headers={"Authorization": f"Bearer {data['members'][0]['token']}"}
    ).get_json()
    earned = [i for i in entries["items"] if i["kind"] == "earn"]
    assert earned[0]["approved_by"] == ["Cara Coordinator"]
    # Running it again posts nothing new, and every check still passes.
    with db.read() as s:
        before = s.execute(select(T_AWARD.c.id)).all()
    again = runner.invoke(cli, ["demo", "--json"])
    assert again.exit_code == 0, again.output
    with db.read() as s:
        assert s.execute(select(T_AWARD.c.id)).all() == before
    verify = runner.invoke(cli, ["verify"])
    assert verify.exit_code == 0, verify.output
    assert "earning_counters" in verify.output and "earning_awards_posted" in verify.output
