"""Codex's ``apply_patch`` as it arrives: a shell heredoc, an argv, or a bare envelope.

Codex runs a patch given as ``["apply_patch", PATCH]`` (or ``applypatch``), or as a shell
script (``bash -lc``, ``sh -c``, ``zsh -c``, PowerShell ``-Command``, ``cmd /c``) made of one
statement::

    apply_patch <<'EOF'            also <<"EOF", <<EOF and any other delimiter word
    *** Begin Patch
    ...
    *** End Patch
    EOF

optionally after ``cd DIR && `` (DIR a word, or a single- or double-quoted string), in which
case every path of the patch is relative to DIR. Anything else in the script (a second
command, ``;``, ``||``, arguments to ``apply_patch``) is not an apply_patch call, as in Codex.
The heredoc's body is taken verbatim, as Codex takes it: nothing in it is expanded.

Here DIR must lie inside the workspace (an absolute DIR inside it is made relative), and so
must every path once DIR is put in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agentos.errors import PatchParseError
from agentos.planner.abspaths import workspace_dir, workspace_path
from agentos.planner.codex import apply_codex, looks_like_codex, parse_codex
from agentos.planner.tree import Overlay

APPLY_PATCH_COMMANDS = frozenset({"apply_patch", "applypatch"})
_WORD = r"[^\s'\"&|;<>()`$\\]+"
_OPENER = re.compile(
    r"\A\s*"
    rf"(?:cd[ \t]+(?:'(?P<single>[^'\n]*)'|\"(?P<double>[^\"\\$`\n]*)\"|(?P<word>{_WORD}))"
    r"[ \t]*&&[ \t]*)?"
    r"(?:apply_patch|applypatch)[ \t]*<<(?P<strip_tabs>-?)[ \t]*"
    r"(?:'(?P<quoted>[^'\n]+)'|\"(?P<dquoted>[^\"\n]+)\"|(?P<bare>[A-Za-z0-9_.-]+))"
    r"[ \t]*\r?\n"
)
# A script that starts like a call but is none of the forms above.
_CALL_LIKE = re.compile(r"\A\s*(?:apply_patch|applypatch|cd[ \t])")


@dataclass(frozen=True)
class PatchCall:
    """The patch text a call carries, the directory it runs in (None: the workspace root)
    and the line of its input where the patch text starts."""

    patch: str
    workdir: str | None = None
    first_line: int = 1


def looks_like_patch_command(text: str) -> bool:
    """True when ``text`` is an ``apply_patch`` heredoc script (with or without ``cd``)."""
    return _OPENER.match(text) is not None


def heredoc_call(script: str, *, source: str) -> PatchCall | None:
    """The patch a heredoc script runs, or None when ``script`` is not an apply_patch
    heredoc; ``PatchParseError`` when it opens one that is never closed or is followed by
    more commands."""
    opened = _OPENER.match(script)
    if opened is None:
        return None
    delimiter = opened["quoted"] or opened["dquoted"] or opened["bare"]
    workdir = opened["single"]
    if workdir is None:
        workdir = opened["double"] if opened["double"] is not None else opened["word"]
    # The line of the script where the patch starts, below the opener.
    first_line = script.count("\n", 0, opened.end()) + 1
    rest = script[opened.end() :].split("\n")
    for index, raw in enumerate(rest):
        line = raw.removesuffix("\r")
        if (line.lstrip("\t") if opened["strip_tabs"] else line) != delimiter:
            continue
        if any(more.strip() for more in rest[index + 1 :]):
            raise PatchParseError(
                f"{source}:{first_line + index}: the script goes on after the heredoc; "
                "Codex runs apply_patch only as the script's one command",
                details={"input": source, "line": first_line + index},
            )
        return PatchCall("\n".join(rest[:index]), workdir, first_line)
    raise PatchParseError(
        f"{source}: the apply_patch heredoc is never closed by a line '{delimiter}'",
        details={"input": source},
    )


def _shell_script(argv: list[str]) -> str | None:
    """The script of ``[shell, flag, script]`` when Codex would read it for apply_patch."""
    if len(argv) == 4 and argv[1].lower() == "-noprofile":
        argv = [argv[0], argv[2], argv[3]]
    if len(argv) != 3:
        return None
    shell = PurePosixPath(argv[0].replace("\\", "/")).stem.lower()
    flag = argv[1]
    if (
        (shell in ("bash", "zsh", "sh") and flag in ("-lc", "-c"))
        or (shell in ("pwsh", "powershell") and flag.lower() == "-command")
        or (shell == "cmd" and flag.lower() == "/c")
    ):
        return argv[2]
    return None


def is_patch_argv(doc: object) -> bool:
    """True for ``["apply_patch", PATCH]`` and a shell argv whose script is a heredoc call."""
    if not (isinstance(doc, list) and doc and all(isinstance(arg, str) for arg in doc)):
        return False
    if len(doc) == 2 and doc[0] in APPLY_PATCH_COMMANDS:
        return True
    script = _shell_script(doc)
    return script is not None and looks_like_patch_command(script)


def argv_call(argv: list[str], *, source: str) -> PatchCall:
    """The patch an argv runs, or ``PatchParseError`` when it is no apply_patch call."""
    if len(argv) == 2 and argv[0] in APPLY_PATCH_COMMANDS:
        return PatchCall(argv[1])
    script = _shell_script(argv)
    call = heredoc_call(script, source=source) if script is not None else None
    if call is None:
        shown = " ".join(argv)[:60]
        raise PatchParseError(
            f"{source}: the command {shown!r} is not an apply_patch call; Codex runs "
            "['apply_patch', PATCH] or a shell script 'apply_patch <<EOF ... EOF'",
            details={"input": source},
        )
    return PatchCall(call.patch, call.workdir)


def text_call(text: str, *, source: str) -> PatchCall:
    """The patch a text carries: a heredoc script, or the envelope itself."""
    call = heredoc_call(text, source=source)
    if call is not None:
        return call
    if _CALL_LIKE.match(text) and not looks_like_codex(text):
        first = text.strip().split("\n", 1)[0][:60]
        raise PatchParseError(
            f"{source}:1: {first!r} is not an apply_patch call agentos can read; write "
            "\"apply_patch <<'EOF'\" (optionally after 'cd DIR && ') with the patch below it",
            details={"input": source, "line": 1},
        )
    return PatchCall(text)


def apply_patch_call(call: PatchCall, overlay: Overlay, *, source: str) -> None:
    """Parse the call's patch and apply it, its paths taken relative to its directory."""
    hunks = parse_codex(call.patch, source=source, first_line=call.first_line)
    root = overlay.baseline.root
    base = ""
    if call.workdir is not None:
        base = workspace_dir(call.workdir, root, source=f"{source}: cd {call.workdir}")
    apply_codex(hunks, overlay, source=source, resolve=_resolver(root, base))


def _resolver(root: Path, base: str) -> Callable[[str, str], str]:
    """Paths of a patch run in ``base`` (a workspace directory, "" for the root)."""

    def resolve(raw: str, where: str) -> str:
        joined = f"{base}/{raw}" if base and raw and not raw.startswith("/") else raw
        return workspace_path(joined, root, source=where)

    return resolve
