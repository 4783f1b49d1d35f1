"""``check --sarif FILE``: the WriteGate's findings as a SARIF 2.1.0 log, so code-scanning
UIs (GitHub's among them) show each finding on the file it is about.

One run; the tool's rules are described once in ``tool.driver.rules`` (every WriteGate rule,
so ``ruleIndex`` is stable); one result per finding with its rule, level (DENY → ``error``,
NEED_APPROVAL → ``warning``, anything else ``note``), message and location: the finding's
path relative to the root of the repository (code scanning matches it with the repository's
files: for a workspace in a subfolder of a git repository, the subfolder comes first; outside
git, relative to the workspace), with its line for secrets, or the plan file for a finding
about the plan as a whole (code scanning drops a whole log whose results lack a location),
named the same way when it lies in the repository. The run's
``properties`` say which plan was checked and which policy decided (its file and digest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from agentos.model import Finding
    from agentos.pipeline.results import Checked

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVELS = {"DENY": "error", "NEED_APPROVAL": "warning"}
# Each WriteGate rule (docs/policy.md, "The rules, in order"): what it finds, what to do.
RULES: dict[str, tuple[str, str]] = {
    "path-safety": (
        "A path that is unsafe to write: absolute, '..', inside .git or .agentos, through a "
        "symlink, or colliding with another name.",
        "No policy allows these; change the plan so it writes only plain paths inside the "
        "workspace.",
    ),
    "forbidden-path": (
        "A path matching writegate.forbidden_paths.",
        "agentos never writes these paths; leave them out of the change.",
    ),
    "outside-allowed-paths": (
        "A path outside executor.allowed_paths.",
        "Add a pattern for it to executor.allowed_paths if agentos should write there, or "
        "leave it out of the change.",
    ),
    "constraint": (
        "A plan over a size limit (files, changed lines, bytes of a file).",
        "Split the change, or raise executor.constraints / writegate.content.max_file_bytes.",
    ),
    "secret": (
        "A secret (a private key, a cloud key, a token) in new content.",
        "Keep secrets out of the repository: use the environment or a secret store, then "
        "plan again.",
    ),
    "binary": (
        "A binary file, judged by writegate.content.binary_files.",
        "Review the file; the policy decides whether binary files need an approval.",
    ),
    "always-review": (
        "A path matching executor.always_review_categories.",
        "A person must approve changes here: agentos approve PLAN --by NAME.",
    ),
    "risk": (
        "The plan's risk level needs an approval (writegate.require_approval_for_risk) or is "
        "denied (writegate.deny_risk).",
        "Get an approval (agentos approve PLAN --by NAME), or make the change smaller.",
    ),
    "unverified-risk": (
        "A risk level that needs a health check covering the change, and none applies.",
        "Add a health check whose when_paths cover the change, or get an approval.",
    ),
}


def _rule(rule_id: str) -> dict[str, Any]:
    short, fix = RULES.get(rule_id, (f"The WriteGate's {rule_id} rule.", "See docs/policy.md."))
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": short},
        "help": {"text": fix},
    }


def _uri(path: str) -> str:
    """A relative path as a URI reference (spaces, ``#``, ``%`` ... percent-encoded)."""
    return quote(path, safe="/")


def _location(finding: Finding, plan_uri: str, prefix: str) -> dict[str, Any]:
    uri = _uri(prefix + finding.path) if finding.path else plan_uri
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if finding.path and finding.line:
        physical["region"] = {"startLine": finding.line}
    return {"physicalLocation": physical}


def plan_file_uri(plan_file: Path, root: Path, prefix: str = "") -> str:
    """The plan file as plan-wide findings name it: relative to the top of the repository
    (``root``, the workspace, is ``prefix`` within it) when inside it, else as given."""
    top = root.resolve()
    depth = len([part for part in prefix.split("/") if part])
    if depth and len(top.parents) >= depth:
        top = top.parents[depth - 1]
    try:
        return _uri(plan_file.resolve().relative_to(top).as_posix())
    except ValueError:
        return _uri(plan_file.as_posix())


def policy_name(source: str, root: Path) -> str:
    """The policy file as the log names it: relative to the workspace when inside it."""
    path = Path(source)
    if path.is_absolute() and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return source


def sarif_document(
    checked: Checked, plan_file: Path, root: Path, prefix: str = ""
) -> dict[str, Any]:
    """The SARIF log of ``checked`` (``root``: the workspace the plan's paths are relative
    to; ``prefix``: its folder within its git repository, ``ws/``, or "")."""
    from agentos import __version__
    from agentos.model import RULES as RULE_IDS

    findings = checked.gate.decision.findings
    ids = list(dict.fromkeys([*RULE_IDS, *(f.rule for f in findings)]))
    plan_uri = plan_file_uri(plan_file, root, prefix)
    results = [
        {
            "ruleId": finding.rule,
            "ruleIndex": ids.index(finding.rule),
            "level": LEVELS.get(finding.severity, "note"),
            "message": {"text": finding.message},
            "locations": [_location(finding, plan_uri, prefix)],
        }
        for finding in findings
    ]
    decision = checked.gate.decision
    driver = {"name": "agentos", "version": __version__, "rules": [_rule(i) for i in ids]}
    run = {
        "tool": {"driver": driver},
        "results": results,
        "properties": {
            "plan_id": decision.plan_id,
            "checksum": decision.checksum,
            "decision": decision.decision,
            "verdict": checked.gate.verdict,
            "policy": {
                "source": policy_name(checked.policy_source, root),
                "digest": decision.policy_digest,
            },
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def sarif_log(checked: Checked, plan_file: Path, root: Path, prefix: str = "") -> str:
    """``sarif_document`` as the file's text."""
    document = sarif_document(checked, plan_file, root, prefix)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
