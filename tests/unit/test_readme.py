"""The README and the docs/ pages are what a newcomer walks, so they must stay true: their
console examples run and print what they show, the make targets and variables they name
exist, their relative links lead somewhere, and docs/commands.md documents every
subcommand and option the harness has."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from harness.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
# The README, then every page in docs/: a new page is checked without touching this file.
PAGES = {
    page.relative_to(ROOT).as_posix(): page.read_text()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
README = PAGES["README.md"]
COMMANDS = PAGES["docs/commands.md"]

MARKER = "<!-- example: "
EXAMPLE = re.compile(
    r"<!-- example: (?P<name>[^>]+?) -->\n```console\n\$ (?P<cmd>[^\n]+)\n(?P<out>.*?)```", re.S
)
EXAMPLES = {
    f"{page}: {m['name']}": (m["cmd"], m["out"])
    for page, text in PAGES.items()
    for m in EXAMPLE.finditer(text)
}

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
# Inline code may wrap onto the next line, as Markdown allows.
SPAN = re.compile(r"`([^`]+)`")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _without_fences(text: str) -> str:
    """The text without fenced blocks: a `#` comment in a shell block is not a heading,
    and `[x](y)` in a block is not a link."""
    return FENCE.sub("", text)


def _code(text: str) -> list[str]:
    """Every line of code: fenced blocks and inline spans. Only code is read for make
    targets, so the verb "make" in prose is never taken for one."""
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    return lines + [span.replace("\n", " ") for span in SPAN.findall(_without_fences(text))]


def _prose(text: str) -> str:
    """The text without any code, where links live."""
    return SPAN.sub("code", _without_fences(text))


def _headings(text: str) -> list[str]:
    # Inline code stays: it is part of a heading and of its anchor.
    return HEADING.findall(_without_fences(text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _headings(text):
        slug = _slug(heading)
        # A repeated heading gets -1, -2, ... as on GitHub.
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _makefile() -> tuple[set[str], set[str]]:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    variables = set(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", makefile))
    variables |= set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*[?:]?=", makefile, re.M))
    return targets, variables


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


SUBCOMMANDS = _subcommands()


def test_the_docs_have_examples() -> None:
    # At least one example runs, and the profile example survived any move between pages.
    assert EXAMPLES
    assert any("profile show" in command for command, _ in EXAMPLES.values())


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_example_marker_is_an_example(page: str) -> None:
    # A marker whose block does not match (a fence typo, no "$ ") would otherwise be
    # skipped without a word; a repeated name would hide one example behind the other.
    # (A marker quoted in code is documentation, not a marker.)
    names = [m["name"] for m in EXAMPLE.finditer(PAGES[page])]
    assert _prose(PAGES[page]).count(MARKER) == len(names), "a marker without a console block"
    assert len(set(names)) == len(names), "two examples with one name"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_prints_what_it_shows(name: str) -> None:
    command, expected = EXAMPLES[name]
    done = subprocess.run(
        shlex.split(command), cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout == expected


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_make_target_and_variable_named_exists(page: str) -> None:
    targets, variables = _makefile()
    named, assigned = set(), set()
    for line in _code(PAGES[page]):
        for found in re.finditer(r"\bmake ([a-z][\w-]*)(.*)", line):
            named.add(found[1])
            try:
                words = shlex.split(found[2], comments=True)
            except ValueError:  # an unclosed quote in a longer line: plain words will do
                words = found[2].split()
            # VAR=value right after the target are make's variables; the first other
            # word (a comment, another command) ends them.
            for word in words:
                if not re.match(r"[A-Z][A-Z0-9_]*=", word):
                    break
                assigned.add(word.split("=", 1)[0])
    assert named <= targets, f"no such make target: {sorted(named - targets)}"
    assert assigned <= variables, f"the Makefile uses no such variable: {assigned - variables}"


def test_the_docs_name_make_targets() -> None:
    # The check above must have something to check.
    assert any(re.search(r"\bmake [a-z]", line) for line in _code(README))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_relative_link_leads_somewhere(page: str) -> None:
    here = (ROOT / page).parent
    broken = []
    for target in LINK.findall(_prose(PAGES[page])):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: are not ours to check
            continue
        path, _, anchor = target.partition("#")
        file = (here / path).resolve() if path else ROOT / page
        # Inside the repository: a clone has nothing else.
        if not file.is_relative_to(ROOT) or not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
            broken.append(f"{target}: no such heading")
    assert not broken


def test_the_readme_links_every_docs_page() -> None:
    # "Where to go next" is how a newcomer finds the pages.
    linked = {target.partition("#")[0] for target in LINK.findall(_prose(README))}
    pages = {page for page in PAGES if page.startswith("docs/")}
    assert pages <= linked, pages - linked


def test_readme_gives_the_two_commands() -> None:
    assert "make bench PROFILE=best-practice\nmake test\n" in README


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_a_section_in_commands_md(name: str) -> None:
    # A heading naming it in backticks: `python -m harness --help` lists it, so an
    # operator will look for it here.
    assert any(f"`{name}`" in heading for heading in _headings(COMMANDS)), (
        f"docs/commands.md has no section for `{name}`"
    )


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_option_is_named_in_commands_md(name: str) -> None:
    # The page promises every option; a new one must be said there too.
    options = {
        option
        for action in SUBCOMMANDS[name]._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    missing = {
        option
        for option in options
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", COMMANDS)
    }
    assert not missing, f"`{name}` options not in docs/commands.md: {sorted(missing)}"
