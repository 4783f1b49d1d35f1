"""Building blocks of the ``--markdown`` reports (GitHub-flavoured Markdown for a pull
request comment or ``$GITHUB_STEP_SUMMARY``): escaped text, tables, a collapsed diff cut to
fit a comment.

Every piece of data (paths, messages, names) goes through ``text``: what a patch or a policy
says is shown, never interpreted as Markdown or HTML, nor by a terminal (control and
bidirectional formatting characters are shown as ``^[`` or ``<U+202E>``, ``cli.visible``, in
the text and in the diff alike) — nor as a mention or a reference that
would notify someone or link an issue (``@name``, ``#12``, ``!12``, ``GH-12``: a zero-width
space after the sign keeps them plain text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from agentos.cli.visible import visible

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.cli.render import Outcome

# GitHub keeps at most 65,536 characters of a comment: a report stays under this, the rest is
# room for a CI job's own words around it.
MAX_CHARS = 60_000
# Rows of one table; the rest is counted in a note (``--json`` lists them all).
MAX_ROWS = 100
# Characters that mean something inline in GitHub Markdown (emphasis, code, links, HTML,
# tables, strikethrough, entities): each is shown as itself with a backslash before it.
_INLINE = re.compile(r"([\\`*_\[\]<>|~&])")
_BREAKS = re.compile(r"[\r\n\t\v\f]+")
_TICKS = re.compile(r"`+")
# GitHub and GitLab mentions (``@user``, ``@org/team``) and references (``#12`` issues and
# pull requests, ``!12`` merge requests, ``GH-12``): a zero-width space after the sign (or
# after ``GH``) leaves them readable and inert.
_MENTIONS = re.compile(r"@(?=[A-Za-z0-9_])|[#!](?=[0-9])|(?<![A-Za-z0-9])GH(?=-[0-9])", re.I)
ZWSP = "\u200b"


def text(value: object) -> str:
    """``value`` as literal Markdown text on one line (safe in a table cell)."""
    line = visible(_BREAKS.sub(" ", str(value)))
    return _INLINE.sub(r"\\\1", inert(line))


def inert(line: str) -> str:
    """``line`` with its mentions and issue references made plain text (a zero-width space
    after ``@``, ``#`` or ``!``)."""
    return _MENTIONS.sub(lambda m: m.group(0) + ZWSP, line)


def code(value: str) -> str:
    """``value`` as an inline code span (ids, checksums, commands); backticks and pipes in it
    cannot end it or split a table cell."""
    value = visible(_BREAKS.sub(" ", value)).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in _TICKS.findall(value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()
) -> list[str]:
    """A table of cells already made Markdown (``text`` / ``code``); ``right``: the columns
    aligned right. Past ``MAX_ROWS`` rows, a note counts the rest."""
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += ["", f"… and {len(rows) - MAX_ROWS} more (`--json` lists them all)"]
    return lines


def cut(diff: str, limit: int) -> tuple[str, int, int]:
    """``diff`` cut after its last whole line within ``limit`` characters, with how many
    lines and characters were left out."""
    if len(diff) <= limit:
        return diff, 0, 0
    end = diff.rfind("\n", 0, max(limit, 0) + 1) + 1
    left = diff[end:]
    return diff[:end], left.count("\n") + (0 if left.endswith("\n") else 1), len(left)


def diff_details(diff: str, limit: int, *, full: str) -> list[str]:
    """A collapsed ``<details>`` block with the diff in a fenced ``diff`` block, cut to
    ``limit`` characters with a note saying how much was left out and how to see it all
    (``full``: the command that shows the whole diff)."""
    # Shown before it is cut: what is shown is what must fit.
    diff = "\n".join(visible(line) for line in diff.split("\n"))
    kept, lines_left, chars_left = cut(diff, limit)
    # A fence longer than any run of backticks in the diff: no line of it can close the block.
    fence = "`" * max(3, max((len(run) for run in _TICKS.findall(kept)), default=0) + 1)
    block = ["<details><summary>Diff</summary>", "", f"{fence}diff"]
    block += kept.rstrip("\n").split("\n") if kept else []
    block += [fence, ""]
    if chars_left:
        block += [
            f"The diff is cut here: {lines_left} more line(s) ({chars_left:,} characters) left "
            f"out to fit a comment; {code(full)} shows it all.",
            "",
        ]
    block.append("</details>")
    return block


def document(lines: Sequence[str]) -> str:
    """The report's text: its lines, one newline at the end — and a blank line after a
    closing HTML tag (the diff's ``</details>``): an HTML block runs until a blank line, so
    a report appended after this one (``>> "$GITHUB_STEP_SUMMARY"``) would be swallowed."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    return text + "\n" if text.endswith("</details>\n") else text


def check_markdown_flag(as_json: bool, markdown: bool) -> None:
    """``--markdown`` and ``--json`` both print the result on stdout: one of them (exit 2,
    before anything is done)."""
    if as_json and markdown:
        from agentos.errors import UsageError

        raise UsageError("--markdown and --json both print the result on stdout; pass one")


def as_markdown(outcome: Outcome, render: Callable[[], str]) -> Outcome:
    """``outcome`` printing ``render()``'s Markdown instead of its human text (exit code,
    warnings and error as they were)."""

    def human(out: Console) -> None:
        out.file.write(render())
        out.file.flush()

    outcome.human = human
    return outcome
