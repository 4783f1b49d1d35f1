"""The command line as typer reads it: global options may come before the command word.

``agentos -C ws status`` is ``agentos status -C ws``, as git takes ``-C`` and Terraform
``-chdir`` before the subcommand: the global options found before the command words are moved
to just after them (after the subcommand word of a group, ``agentos --json policy test``).
This module imports nothing, so that the console script can arrange the arguments before it
answers ``hook`` and ``--version`` without typer.
"""

from __future__ import annotations

from dataclasses import dataclass

# Command words that take a subcommand word: the global options go after both.
GROUPS = ("audit", "policy", "queue", "store")
# The global options every command takes (``agentos.cli.context``), with and without a value.
VALUE_OPTIONS = ("-C", "--workspace", "--policy")
FLAG_OPTIONS = ("--json", "-q", "--quiet")
# Answered by the top level whatever else the command line holds.
HELP_OPTIONS = ("-h", "--help", "-V", "--version")


@dataclass(frozen=True)
class CommandLine:
    """``argv`` arranged for typer, and what was found in it."""

    args: list[str]
    # The command words (``()``, ``("plan",)``, ``("policy", "test")``), option values skipped.
    words: tuple[str, ...]
    # Global options given before the command words (moved after them in ``args``).
    moved: tuple[str, ...]

    @property
    def missing_command(self) -> bool:
        """Global options were given, but no command (or no subcommand of a group) to take
        them, and no ``--help`` or ``--version`` to answer instead."""
        wanted = 2 if self.words[:1] and self.words[0] in GROUPS else 1
        return bool(self.moved) and len(self.words) < wanted


def arrange(argv: list[str]) -> CommandLine:
    """``argv`` with the global options given before the command words moved after them.

    Scanning stops at the command words or at ``--``; other options (``--help``, a typo) stay
    where they are, for typer to answer. Without a command but with ``--help`` or
    ``--version``, the global options are dropped: the help or the version is printed."""
    moved: list[str] = []
    kept: list[str] = []
    words: list[str] = []
    index = 0
    while index < len(argv) and len(words) < _wanted(words):
        arg = argv[index]
        if arg == "--":
            break
        size = _global_option_size(argv, index)
        if size:
            moved += argv[index : index + size]
            index += size
            continue
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
        kept.append(arg)
        index += 1
    rest = argv[index:]
    if len(words) < _wanted(words) and any(arg in HELP_OPTIONS for arg in kept):
        return CommandLine(kept + rest, tuple(words), ())
    return CommandLine(kept + moved + rest, tuple(words), tuple(moved))


def command_words(argv: list[str]) -> tuple[str, ...]:
    """``("apply",)`` or ``("policy", "test")``: the command words of ``argv``, wherever the
    global options and their values are."""
    return arrange(argv).words


def _wanted(words: list[str]) -> int:
    return 2 if words[:1] and words[0] in GROUPS else 1


def _global_option_size(argv: list[str], index: int) -> int:
    """How many arguments the global option at ``argv[index]`` spans (0: it is none)."""
    arg = argv[index]
    if arg in VALUE_OPTIONS:
        return 2 if index + 1 < len(argv) else 1
    if arg in FLAG_OPTIONS:
        return 1
    if arg.startswith(("--workspace=", "--policy=")):
        return 1
    if arg.startswith("-C") and not arg.startswith("--"):
        return 1  # -CDIR, the value attached
    return 0
