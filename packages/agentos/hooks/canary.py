"""How each agent reads a matcher and a hook's answer, and the canary event doctor sends.

``agentos doctor`` proves that enforcement really blocks by running the configured hook
command exactly as the agent would, with a pre-write event for a write agentos always refuses
(to ``.git/``, which the built-in path-safety rule denies), and reading the answer the way
that agent reads it. The rules below follow each agent's source (``docs/agents-setup.md``):
an answer that does not block there — allow, ask where the agent does not honour it, no
output, invalid JSON, another exit code, a timeout — is a failure named in the agent's terms.

Pure functions only: ``agentos.hooks.doctor`` runs the command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentos.hooks.integrate import AgentSpec

CANARY_NAME = "agentos-doctor-canary"
CANARY_TEXT = "agentos doctor canary: a write agentos must refuse; it is never written\n"
# Tools Codex also lets a matcher name for apply_patch (HookToolName::apply_patch).
CODEX_ALIASES: Mapping[str, tuple[str, ...]] = {"apply_patch": ("Write", "Edit")}
_CLAUDE_EXACT = re.compile(r"[A-Za-z0-9_\-, |]*")
_CODEX_EXACT = re.compile(r"[A-Za-z0-9_|]*")
# The keys Codex accepts in a PreToolUse answer (its output structs deny unknown fields).
_CODEX_KEYS = frozenset(
    {"continue", "stopReason", "suppressOutput", "systemMessage", "decision", "reason"}
    | {"hookSpecificOutput"}
)
_CODEX_SPECIFIC_KEYS = frozenset(
    {"hookEventName", "permissionDecision", "permissionDecisionReason"}
    | {"updatedInput", "additionalContext"}
)


# -- matchers ------------------------------------------------------------------------------


def matcher_covers(spec: AgentSpec, matcher: object, tool: str) -> bool | None:
    """Whether the agent runs a group with ``matcher`` for ``tool`` (None: the agent would
    reject the matcher, so it runs for nothing)."""
    if matcher is None:
        return True
    if not isinstance(matcher, str):
        return None
    if spec.name == "claude":
        return _claude_covers(matcher, tool)
    if spec.name == "codex":
        names = (tool, *CODEX_ALIASES.get(tool, ()))
        results = [_codex_covers(matcher, name) for name in names]
        return None if None in results else any(results)
    return _gemini_covers(matcher, tool)


def _claude_covers(matcher: str, tool: str) -> bool | None:
    if matcher in ("", "*"):
        return True
    if _CLAUDE_EXACT.fullmatch(matcher):
        return tool in {part.strip() for part in re.split(r"[|,]", matcher)}
    return _search(matcher, tool)


def _codex_covers(matcher: str, tool: str) -> bool | None:
    if matcher in ("", "*"):
        return True
    if _CODEX_EXACT.fullmatch(matcher):
        return tool in matcher.split("|")
    return _search(matcher, tool)


def _gemini_covers(matcher: str, tool: str) -> bool | None:
    matcher = matcher.strip()
    if matcher in ("", "*"):
        return True
    # Gemini CLI falls back to an exact comparison when the pattern does not compile.
    found = _search(matcher, tool)
    return matcher == tool if found is None else found


def _search(pattern: str, text: str) -> bool | None:
    """An unanchored regular-expression match, as JavaScript's ``test`` and Rust's
    ``is_match`` do (None when the pattern does not compile)."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return None


# -- the event -----------------------------------------------------------------------------


def canary_target(root: Path) -> Path:
    """The file the canary asks to write: inside ``.git``, which agentos always refuses."""
    return root / ".git" / CANARY_NAME


def canary_event(spec: AgentSpec, root: Path, *, session: str, now: str) -> dict[str, Any]:
    """A pre-write event as ``spec``'s agent sends it, asking to create the canary file."""
    target = str(canary_target(root))
    base = {"session_id": session}
    if spec.name == "codex":
        patch = f"*** Begin Patch\n*** Add File: .git/{CANARY_NAME}\n+{CANARY_TEXT}*** End Patch\n"
        return {
            **base,
            "turn_id": f"{session}-turn",
            "transcript_path": None,
            "cwd": str(root),
            "hook_event_name": spec.pre_write,
            "model": "agentos-doctor",
            "permission_mode": "default",
            "tool_name": "apply_patch",
            "tool_input": {"command": patch},
            "tool_use_id": f"call_{session}",
        }
    transcript = str(root / ".agentos" / "doctor" / f"{session}.jsonl")
    if spec.name == "gemini":
        return {
            **base,
            "transcript_path": transcript,
            "cwd": str(root),
            "hook_event_name": spec.pre_write,
            "timestamp": now,
            "tool_name": "write_file",
            "tool_input": {"file_path": target, "content": CANARY_TEXT},
        }
    return {
        **base,
        "transcript_path": transcript,
        "cwd": str(root),
        "permission_mode": "default",
        "hook_event_name": spec.pre_write,
        "tool_name": "Write",
        "tool_input": {"file_path": target, "content": CANARY_TEXT},
        "tool_use_id": f"toolu_{session}",
    }


def canary_environment(spec: AgentSpec, root: Path, session: str) -> dict[str, str]:
    """The variables the agent adds to a hook's environment."""
    if spec.name == "claude":
        return {"CLAUDE_PROJECT_DIR": str(root)}
    if spec.name == "gemini":
        return {
            "GEMINI_PROJECT_DIR": str(root),
            "GEMINI_CWD": str(root),
            "GEMINI_SESSION_ID": session,
            "CLAUDE_PROJECT_DIR": str(root),
        }
    return {}


# -- the answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the hook command did: its exit code (None if it never ran or was killed), its
    output, whether it ran out of time, and why it could not run."""

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether the agent would block the write, and what it would do, in its terms."""

    blocks: bool
    detail: str


def classify(spec: AgentSpec, answer: Answer, *, waited: float) -> Verdict:
    """What ``spec``'s agent does with ``answer`` to a pre-write event."""
    who = spec.title
    if answer.error is not None:
        return Verdict(False, f"cannot run: {answer.error}; {who} lets the write through")
    if answer.timed_out:
        return Verdict(
            False,
            f"no answer within {waited:g}s: {who} cancels the hook and lets the write through",
        )
    if spec.name == "claude":
        return _claude(answer, who)
    if spec.name == "codex":
        return _codex(answer, who)
    return _gemini(answer, who)


def _claude(answer: Answer, who: str) -> Verdict:
    if answer.exit_code == 2:
        return Verdict(True, "blocks (exit 2" + (")" if answer.stderr.strip() else ", no reason)"))
    if answer.exit_code != 0:
        return _other_exit(answer, who)
    document = _json_object(answer.stdout)
    if isinstance(document, str):
        return Verdict(False, f"{document}: {who} ignores it and lets the write through")
    specific = document.get("hookSpecificOutput")
    if isinstance(specific, Mapping) and specific.get("hookEventName") == "PreToolUse":
        decision = specific.get("permissionDecision")
        if decision == "deny":
            return Verdict(True, "blocks (permissionDecision 'deny')")
        if decision is not None:
            return _not_deny(decision, who)
    if document.get("decision") == "block":
        return Verdict(True, "blocks (the deprecated decision 'block')")
    if document.get("decision") == "approve":
        return _not_deny("approve", who)
    return Verdict(False, f"answers no decision: {who} goes on to its own permission check")


def _codex(answer: Answer, who: str) -> Verdict:
    if answer.exit_code == 2:
        if answer.stderr.strip():
            return Verdict(True, "blocks (exit 2 with a reason on stderr)")
        return Verdict(
            False, f"exits 2 without a reason on stderr, which {who} takes as a failed hook"
        )
    if answer.exit_code != 0:
        return _other_exit(answer, who)
    document = _json_object(answer.stdout)
    if isinstance(document, str):
        return Verdict(False, f"{document}: {who} lets the write through")
    unknown = sorted(set(document) - _CODEX_KEYS)
    specific = document.get("hookSpecificOutput")
    if isinstance(specific, Mapping):
        unknown += sorted(f"hookSpecificOutput.{k}" for k in set(specific) - _CODEX_SPECIFIC_KEYS)
    if unknown:
        return Verdict(False, f"answers with {', '.join(unknown)}, which {who} rejects as invalid")
    if (
        document.get("continue") is False
        or "stopReason" in document
        or document.get("suppressOutput") is True
    ):
        return Verdict(False, f"answers continue/stopReason/suppressOutput, unsupported by {who}")
    if specific is not None:
        if not isinstance(specific, Mapping) or not isinstance(specific.get("hookEventName"), str):
            return Verdict(False, f"hookSpecificOutput has no hookEventName: {who} rejects it")
        decision = specific.get("permissionDecision")
        if (
            specific.get("updatedInput") is not None
            or str(specific.get("additionalContext") or "").strip()
        ):
            return Verdict(False, f"answers updatedInput/additionalContext, unsupported by {who}")
        if decision == "deny":
            if str(specific.get("permissionDecisionReason") or "").strip():
                return Verdict(True, "blocks (permissionDecision 'deny')")
            return Verdict(False, f"denies without a permissionDecisionReason: {who} fails open")
        if decision is not None:
            return _not_deny(decision, who)
    decision = document.get("decision")
    if decision == "block" and str(document.get("reason") or "").strip():
        return Verdict(True, "blocks (decision 'block')")
    if decision == "block":
        return Verdict(False, f"answers decision 'block' without a reason: {who} fails open")
    if decision == "approve":
        return _not_deny(decision, who)
    if decision is not None:
        return Verdict(
            False,
            f"answers decision {decision!r}, which {who} does not accept "
            "(permissionDecision 'deny' or decision 'block' blocks)",
        )
    return Verdict(False, f"answers no decision: {who} lets the write through")


def _gemini(answer: Answer, who: str) -> Verdict:
    text = answer.stdout.strip() or answer.stderr.strip()
    if not text:
        return Verdict(False, f"answers nothing (exit {answer.exit_code}): {who} runs the tool")
    try:
        document = json.loads(text)
        if isinstance(document, str):
            document = json.loads(document)
    except ValueError:
        if answer.exit_code in (0, 1):
            return Verdict(
                False,
                f"prints text that is not JSON (exit {answer.exit_code}): {who} runs the tool",
            )
        return Verdict(True, f"blocks (exit {answer.exit_code} with a reason)")
    if not isinstance(document, dict):
        return Verdict(False, f"prints JSON that is not an object: {who} runs the tool")
    if document.get("decision") in ("deny", "block"):
        return Verdict(True, f"blocks (decision {document['decision']!r})")
    if document.get("continue") is False:
        return Verdict(True, "blocks (continue false stops the agent)")
    decision = document.get("decision")
    if decision is not None:
        return _not_deny(decision, who)
    return Verdict(False, f"answers no decision: {who} runs the tool")


def _json_object(stdout: str) -> dict[str, Any] | str:
    """The JSON object on stdout, or what is wrong with stdout."""
    text = stdout.strip()
    if not text:
        return "answers nothing (exit 0, no output)"
    try:
        document = json.loads(text)
    except ValueError:
        return "prints output that is not JSON (exit 0)"
    if not isinstance(document, dict):
        return "prints JSON that is not an object (exit 0)"
    return document


def _not_deny(decision: object, who: str) -> Verdict:
    if decision == "ask" and who == "Codex":
        return Verdict(False, f"answers 'ask', which {who} treats as allow")
    if decision == "ask":
        return Verdict(False, f"answers 'ask': {who} asks the user instead of refusing the write")
    return Verdict(False, f"answers {decision!r}: {who} lets the write through")


def _other_exit(answer: Answer, who: str) -> Verdict:
    return Verdict(
        False,
        f"exits {answer.exit_code}: {who} takes that as a non-blocking error and lets the "
        "write through (only exit 2 blocks)",
    )
