"""Help text in the words of a person, not of Python: ``PLAN...``, ``--lock-timeout SECONDS``,
``-C, --workspace DIR``, never ``{inputs}...``, ``<list[str]>`` or ``<float range>``.

Every command is a ``HelpfulCommand``: the usage line and the name column of its arguments
and options show each parameter's metavar (the one its command gives, else one made from its
type or name); the help column is typer's.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperCommand

# ``display_type`` of typer (``<int range>``, ``<path>``...) -> a metavar, for parameters
# whose command gives none.
_BY_TYPE = (("int", "N"), ("float", "SECONDS"), ("dir", "DIR"), ("path", "FILE"), ("file", "FILE"))


class HelpfulCommand(TyperCommand):
    """A typer command whose help names its parameters with human metavars."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument" and not getattr(param, "hidden", False):
                pieces.append(usage_piece(param, ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            text = plain_ranges(record[1])
            if param.param_type_name == "argument":
                arguments.append((argument_name(param, ctx), text))
            else:
                options.append((option_name(param, ctx), text))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


# click's notes on a number's range, in its own notation: ``x>=0``, ``1<=x<=10``, ``x<5``.
_RANGE = re.compile(r"(?:(?P<low>[\d.]+)(?P<lop><=?))?x(?:(?P<hop>[<>]=?)(?P<high>[\d.]+))?")
_WORDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}


def plain_ranges(help_text: str) -> str:
    """``help_text`` with click's range notes in words: ``[x>=0]`` -> ``[at least 0]``,
    ``[default: 3; 1<=x<=10]`` -> ``[default: 3; 1 to 10]``."""

    def words(match: re.Match[str]) -> str:
        low, high, hop = match["low"], match["high"], match["hop"]
        if low is not None and high is not None:
            return f"{low} to {high}"
        if low is not None:
            return f"{'at least' if match['lop'] == '<=' else 'more than'} {low}"
        if high is not None and hop is not None:
            return f"{_WORDS[hop]} {high}"
        return match[0]

    def note(match: re.Match[str]) -> str:
        parts = [
            _RANGE.sub(words, part) if _RANGE.fullmatch(part) else part
            for part in match[1].split("; ")
        ]
        return f"[{'; '.join(parts)}]"

    return re.sub(r"\[([^\[\]]*)\]\s*$", note, help_text)


def metavar(param: Any, ctx: Any) -> str:
    """``PLAN``, ``N``, ``FILE``: what the help calls the value of ``param``."""
    given = getattr(param, "metavar", None)
    if given:
        return str(given).strip("[]{}").removesuffix("...")
    if param.param_type_name == "argument":
        return str(param.name).upper()
    shown = ""
    display = getattr(param, "display_type", None)
    if callable(display):
        try:
            shown = str(display(ctx)).lower()
        except Exception:  # the name says enough
            shown = ""
    for word, name in _BY_TYPE:
        if word in shown:
            return name
    longest = max(param.opts, key=len)
    return str(longest.lstrip("-").replace("-", "_").upper())


def usage_piece(param: Any, ctx: Any) -> str:
    """``PLAN...``, ``[EXECUTION_ID]``: an argument on the usage line."""
    name = metavar(param, ctx)
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


def argument_name(param: Any, ctx: Any) -> str:
    """An argument in the name column: ``INPUT...``."""
    name = metavar(param, ctx)
    return name + "..." if param.nargs != 1 else name


def option_name(param: Any, ctx: Any) -> str:
    """An option in the name column: ``-C, --workspace DIR``, ``--dry-run``."""
    spelled = ", ".join(sorted(param.opts, key=lambda o: o.startswith("--")))
    if getattr(param, "secondary_opts", None):
        spelled += " / " + ", ".join(param.secondary_opts)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return spelled
    return f"{spelled} {metavar(param, ctx)}"
