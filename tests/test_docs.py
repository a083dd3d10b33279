"""The front page and docs/ link to each other: every relative link resolves to a file, and every
#anchor to a heading of that file (as GitHub makes anchors from headings)."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped but - and _, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def outside_code(text: str) -> list[str]:
    """The lines of a Markdown file outside ``` fences."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return kept


def anchors(page: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in outside_code(page.read_text(encoding="utf-8"))
            if re.match(r"#{1,6} ", line)}


def links(page: Path) -> list[str]:
    return [target for line in outside_code(page.read_text(encoding="utf-8"))
            for target in LINK.findall(line) if not re.match(r"[a-z]+:", target)]


def broken(page: Path) -> list[str]:
    """The relative links of `page` whose file or anchor does not exist."""
    wrong = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            wrong.append(f"{target}: no file {file}")
        elif fragment and fragment not in anchors(file):
            wrong.append(f"{target}: no heading with that anchor in {file.name}")
    return wrong


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_links_resolve(page):
    assert broken(page) == []


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](other.md#a-section) [ok](#page) [web](https://example.com)\n"
                    "[bad](other.md#no-such) [bad](missing.md) [bad](#nowhere)\n")
    assert [line.split(":")[0] for line in broken(page)] == ["other.md#no-such", "missing.md", "#nowhere"]


def test_the_front_page_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) < 250


def code_map(page: Path) -> set[str]:
    """The paths under vision/ that the code map of docs/architecture.md names: its indented tree, one
    name a line, two spaces a level; a folder listed without entries stands for all of its files."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = lines.index("    vision/")
    names, trail = set(), []
    for line in lines[start + 1:]:
        if not line.startswith("      "):  # back at the top level: tests/, bench/
            break
        depth = (len(line) - len(line.lstrip())) // 2 - 3
        if depth >= len(trail) + 1 or not line.strip():
            continue  # a description's second line
        trail[depth:] = [line.split()[0]]
        names.add("vision/" + "".join(trail))
    return names


def test_the_code_map_names_every_module():
    named = code_map(REPO / "docs" / "architecture.md")
    whole_folders = {name for name in named if name.endswith("/")
                     and not any(other != name and other.startswith(name) for other in named)}
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "vision").rglob("*.py")
               if path.name != "__init__.py"}
    unnamed = {module for module in modules - named if not module.startswith(tuple(whole_folders))}
    assert unnamed == set(), "files missing from docs/architecture.md's code map"
    assert {name for name in named if not (REPO / name).exists()} == set(), "names of no file in the code map"
