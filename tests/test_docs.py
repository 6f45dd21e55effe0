"""README.md and docs/*.md: every relative link leads to a file, and every #anchor to a heading there."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    out, fence = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6} (.+)$", line)):
            out.add(_anchor(m.group(1)))
    return out


def _links(page: Path) -> list[str]:
    text, fence, keep = page.read_text(), False, []
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            keep.append(line)
    return [m for m in LINK.findall("\n".join(keep)) if not re.match(r"^[a-z]+:", m)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page):
    for link in _links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: link {link!r} leads nowhere"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target), f"{page.name}: no heading for #{anchor} in {target.name}"


def test_anchor_rule_matches_github():
    assert _anchor("Sparse labels and false negatives — `hpcfault labels sparsify`") == \
        "sparse-labels-and-false-negatives--hpcfault-labels-sparsify"
    assert _anchor("Scores (`hpcfault/metrics.py`, `hpcfault evaluate`)") == "scores-hpcfaultmetricspy-hpcfault-evaluate"
