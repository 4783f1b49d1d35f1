"""The output schemas of ``agentos mcp``'s tools: the ``--json`` results of the commands
(``agentos.pipeline.documents``, whose every key ``docs/cli.md`` lists) as JSON Schema.

Kept small on purpose — a client may put them in its model's context: each names the keys a
result always has and the types of the ones scripts rely on (SPEC §3); nested rows are typed
where an agent acts on them (findings, files), plain objects elsewhere; extra keys are allowed,
so a result may grow without breaking a client.
"""

from __future__ import annotations

from typing import Any

_S: dict[str, Any] = {"type": "string"}
_NS: dict[str, Any] = {"type": ["string", "null"]}
_I: dict[str, Any] = {"type": "integer"}
_B: dict[str, Any] = {"type": "boolean"}
_O: dict[str, Any] = {"type": "object"}
_NO: dict[str, Any] = {"type": ["object", "null"]}
_A: dict[str, Any] = {"type": "array"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _S}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": sorted(properties)}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


ENTRY_KINDS = ("file", "directory", "symlink", "other")
_DECISION = {"enum": ["ALLOW", "NEED_APPROVAL", "DENY"]}
_VERDICT = {"enum": ["ALLOW", "APPROVED", "NEED_APPROVAL", "DENY"]}
_FINDINGS = _list(_obj({"rule": _S, "path": _NS, "severity": _S, "message": _S}))
_FILES = _list(_obj({"op": _S, "path": _S}))
_PLAN_KEYS = {
    "plan_id": _S,
    "plan_file": _S,
    "checksum": _S,
    "decision": _DECISION,
    "intent": _NS,
    "author": _S,
    "risk": _O,
    "stats": _O,
    "changes": _FILES,
    "sources": _A,
    "findings": _FINDINGS,
}
_GATE_KEYS = {
    "plan_id": _S,
    "plan_file": _S,
    "checksum": _S,
    "decision": _DECISION,
    "verdict": _VERDICT,
    "risk": _O,
    "findings": _FINDINGS,
    "approvals": _O,
    "policy": _O,
}
_EXECUTION_KEYS = {
    "execution_id": _S,
    "plan_id": _S,
    "checksum": _S,
    "kind": _S,
    "parent": _NS,
    "status": _S,
    "message": _S,
    "files": _FILES,
    "executions": _A,
}
_VIEW_KEYS = {"execution_id": _S, "plan_id": _NS, "kind": _S, "status": _S, "attempts": _I}

PLAN = _obj(_PLAN_KEYS)
CHECK = _obj({**_GATE_KEYS, "stale": _B, "drifted": _STRINGS})
APPROVE = _obj({**_GATE_KEYS, "approval_file": _S, "approval": _O})
APPLIED = _obj(_EXECUTION_KEYS)
STATUS = _obj({"lock": _O, "interrupted": _A, "breakers": _A, "executions": _A, "sweep": _NO})
HISTORY = _obj({"executions": _list(_obj(_VIEW_KEYS)), "total": _I})
SHOW = {
    "type": "object",
    "anyOf": [
        _obj({**_PLAN_KEYS, "created_at": _S, "base": _O, "diff": _NS}),
        _obj({**_VIEW_KEYS, "timeline": _A}),
    ],
}
PROPOSED = _obj(
    {
        "dry_run": _B,
        "plan": _obj({"plan_id": _S, "decision": _DECISION, "findings": _FINDINGS}),
        "verdict": _VERDICT,
        "approvals": _O,
        "diff": _S,
        "apply": {"anyOf": [_obj({"execution_id": _S, "status": _S}), {"type": "null"}]},
    }
)
READ = _obj({"path": _S, "content": _S, "size": _I})
LISTING = _obj(
    {
        "path": _S,
        "entries": _list(_obj({"name": _S, "type": {"enum": list(ENTRY_KINDS)}})),
        "hidden": _I,
    }
)
FOUND = _obj({"path": _S, "pattern": _S, "matches": _STRINGS, "truncated": _B})
