"""The guides and their pictures cannot drift apart: every image a guide links exists in
docs/screenshots/, and every picture `./dev screenshots` takes (credits.docs_screenshots.SHOTS)
is shown by its guide, in every language the volunteers' guide is written in. No browser: this
reads the Markdown and the file names only."""

from __future__ import annotations

import re
from pathlib import Path

from credits import docs_screenshots as shots

DOCS = shots.ROOT / "docs"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
README = shots.ROOT / "README.md"


def images_in(guide: Path) -> list[Path]:
    return [(guide.parent / link).resolve() for link in IMAGE.findall(guide.read_text("utf-8"))]


def test_every_guide_exists():
    missing = [str(g.relative_to(DOCS)) for g in shots.expected_files() if not g.exists()]
    assert missing == []


def test_every_image_a_guide_links_exists():
    broken = {
        str(guide.relative_to(DOCS)): [str(p) for p in images_in(guide) if not p.is_file()]
        for guide in shots.expected_files()
        if guide.exists()
    }
    assert {g: b for g, b in broken.items() if b} == {}


def test_every_screenshot_the_command_takes_is_used_by_its_guide():
    unused = {}
    for guide, pictures in shots.expected_files().items():
        linked = set(images_in(guide)) if guide.exists() else set()
        left = [str(p.relative_to(DOCS)) for p in pictures if p.resolve() not in linked]
        if left:
            unused[str(guide.relative_to(DOCS))] = left
    assert unused == {}


def test_no_stray_pictures_in_docs_screenshots():
    """A picture no step takes any more would go stale: the folder holds only SHOTS."""
    wanted = {p.resolve() for pictures in shots.expected_files().values() for p in pictures}
    found = {p.resolve() for p in shots.SCREENSHOTS.rglob("*.png")}
    assert sorted(str(p.relative_to(DOCS)) for p in found - wanted) == []


def test_the_guides_are_small_enough_to_commit():
    total = sum(p.stat().st_size for p in shots.SCREENSHOTS.rglob("*.png"))
    assert total < 5_000_000


def test_the_readme_links_the_guides_and_names_the_command():
    readme = README.read_text("utf-8")
    assert "./dev screenshots" in readme
    for guide in ("guide-volunteers.md", "guide-shops.md", "guide-officers.md"):
        assert f"docs/{guide}" in readme
