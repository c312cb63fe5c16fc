"""The documentation: every tool has a manual page whose synopsis and option table equal what its
parser gives now (``make docs`` regenerates them), every relative link in the Markdown pages
points to a file (and heading) that exists, and the README stays a front door."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contig_gwas.cli import manpages

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "RESULTS.md",
                *DOCS.rglob("*.md")])
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


@pytest.mark.parametrize("tool", manpages.TOOLS)
def test_manual_page_matches_parser(tool):
    """The page's generated blocks are what the parser gives now: a changed option or help text
    fails here until `make docs` is run."""
    path = manpages.page_path(DOCS / "tools", tool)
    assert path.exists(), f"{path}: no manual page for contig-{tool}"
    text = path.read_text(encoding="utf-8")
    found = manpages.page_blocks(text)
    expected = manpages.generated_blocks(tool)
    for name in manpages.BLOCKS:
        assert name in found, f"{path}: no '<!-- {name}: begin/end -->' block"
        assert found[name] == expected[name], (
            f"{path}: the {name} block differs from contig-{tool}'s parser; run `make docs`")


def test_every_option_is_on_its_page():
    """Independently of the generator's layout: each option string of each parser appears on
    its page, and the page names no option the parser lacks."""
    for tool in manpages.TOOLS:
        parser = manpages.build_parser(tool)
        text = manpages.page_path(DOCS / "tools", tool).read_text(encoding="utf-8")
        table = manpages.page_blocks(text)["options"]
        flags = {s for a in parser._actions for s in a.option_strings}
        for flag in flags - {"-h", "--help", "--version"}:
            assert f"`{flag}" in table, f"contig-{tool}: {flag} missing from its page"
        listed = set(re.findall(r"^\| `(--[a-z0-9-]+)", table, flags=re.MULTILINE))
        assert listed <= flags, f"contig-{tool}: page lists {sorted(listed - flags)}"


def test_render_replaces_only_the_blocks():
    page = ("# t\n\nintro\n<!-- usage: begin -->\nold\n<!-- usage: end -->\nmiddle\n"
            "<!-- options: begin -->\nold\n<!-- options: end -->\nend\n")
    out = manpages.render(page, {"usage": "U", "options": "O"})
    assert out == page.replace("old\n<!-- usage", "U\n<!-- usage").replace(
        "old\n<!-- options", "O\n<!-- options")
    assert manpages.page_blocks(out) == {"usage": "U", "options": "O"}
    with pytest.raises(ValueError, match="options"):
        manpages.render("<!-- usage: begin -->\nx\n<!-- usage: end -->\n", {"usage": "U"})


def test_check_mode(tmp_path, capsys):
    """`python -m contig_gwas.cli.manpages --check` fails on a stale page; a rewrite fixes it."""
    for tool in manpages.TOOLS:
        src = manpages.page_path(DOCS / "tools", tool)
        (tmp_path / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    assert manpages.main(["--check", str(tmp_path)]) == 0
    page = manpages.page_path(tmp_path, "h2")
    page.write_text(page.read_text().replace("| `--rg` |", "| `--rg-old` |"))
    assert manpages.main(["--check", str(tmp_path)]) == 1
    assert "contig-h2.md" in capsys.readouterr().err
    assert manpages.main([str(tmp_path)]) == 0
    assert manpages.main(["--check", str(tmp_path)]) == 0


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _strip_code(text: str) -> str:
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"),
                       flags=re.DOTALL | re.MULTILINE).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            s = _slug(m.group(1))
            n = seen.get(s, 0)
            anchors.add(s if n == 0 else f"{s}-{n}")
            seen[s] = n + 1
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    """Every relative link (and image) points to an existing file, and a `#heading` part to a
    heading of that file."""
    broken = []
    for target in LINK.findall(_strip_code(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target} (no {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: " + "; ".join(broken)


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for tool in manpages.TOOLS:
        assert f"docs/tools/contig-{tool}.md" in text, f"README does not link contig-{tool}"
    for page in ("docs/methods.md", "docs/formats.md", "bench/RESULTS.md", "CHANGELOG.md"):
        assert page in text, f"README does not link {page}"


def test_no_reference_to_removed_pages():
    """Nothing in the repository points to the removed docs/readme_*.md pages or to a DESIGN.md
    that is not in it."""
    offenders = []
    for path in [*ROOT.glob("*.md"), *DOCS.rglob("*.md"), *(ROOT / "bench").glob("*.md"),
                 *(ROOT / "contig_gwas").rglob("*.py"), *(ROOT / "tests").glob("*.py"),
                 *(ROOT / "workflows").rglob("*")]:
        if path.is_file() and path != Path(__file__).resolve():
            text = path.read_text(encoding="utf-8", errors="replace")
            if re.search(r"docs/readme_\w+\.md|\bDESIGN\.md", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def _example_commands(text: str, tool: str) -> list[str]:
    """The ``contig-<tool> ...`` command lines in the page's ```bash blocks (continuations
    joined, comments dropped)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(f"contig-{tool} "):
                commands.append(line)
    return commands


@pytest.mark.parametrize("tool", manpages.TOOLS)
def test_examples_parse(tool):
    """Every example on a tool's page is a command line its parser accepts."""
    import importlib
    import shlex

    module = importlib.import_module(f"contig_gwas.cli.{tool}")
    text = manpages.page_path(DOCS / "tools", tool).read_text(encoding="utf-8")
    commands = _example_commands(text, tool)
    assert commands, f"contig-{tool}: no example on its page"
    for command in commands:
        module.parse_args(shlex.split(command)[1:])
