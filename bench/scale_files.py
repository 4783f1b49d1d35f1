"""Scale: ``agentos plan`` and ``agentos apply`` of 1k, 10k, 100k small files (SPEC §11: plan +
apply of 10k files within 12 x 1k), with ``git apply`` and GNU ``patch -p1`` on the same change.

``make_case(scratch, files, layout)`` builds a workspace (a permissive policy of its own) and the
change as a manifest (YAML and JSON) and as the equivalent unified diff;
``measure(agentos, case)`` times ``agentos plan`` and ``agentos apply`` as cold processes in a
fresh copy of the workspace, with each one's peak RSS, and ``git apply`` / ``patch -p1`` of the
diff in fresh copies of their own.

Layouts:
- ``dirs``: ``files`` new files spread over a handful of directories;
- ``flat``: ``files`` new files in one directory;
- ``crowded``: ``files`` new files in a directory that already holds ``files`` others;
- ``modify``: ``files`` existing files (over a handful of directories) rewritten;
- ``newdirs``: ``files`` new files, each in a directory of its own that the change makes.

Run ``python bench/scale_files.py [FILES...] [--layout L] [--input yaml|json|diff]`` for a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AGENTOS = Path(sys.executable).with_name("agentos")
LAYOUTS = ("dirs", "flat", "crowded", "modify", "newdirs")
INPUTS = ("yaml", "json", "diff")
# A handful of directories, as a change to a real project spreads over a few packages.
DIRECTORIES = 8
POLICY = REPO / "tests" / "data" / "permissive-policy.yaml"
# The packaged defaults (forbidden paths, risk rules, secrets scan, always-review patterns,
# syntax checks) with limits that let a plan of 100k files through without an approval.
GOVERNED_POLICY = """\
version: 1
writegate:
  require_approval_for_risk: []
executor:
  allowed_paths: ["src/**", "agent/**"]
  constraints: {max_files_touched: 1000000, max_patch_lines: 100000000}
  require_health_checks_for_risk: []
"""
POLICIES = ("permissive", "governed")


@dataclass(frozen=True)
class Case:
    """A workspace to copy (``base``), the change as manifests and as a diff, and its size."""

    base: Path
    manifest_yaml: Path
    manifest_json: Path
    diff: Path
    files: int
    layout: str


@dataclass(frozen=True)
class Measurement:
    """Wall seconds and peak RSS (bytes) of each step; ``None`` where a tool is missing."""

    plan_seconds: float
    plan_rss: int
    apply_seconds: float
    apply_rss: int
    replay_seconds: float  # the same apply again: "already applied" (idempotency)
    git_apply_seconds: float | None
    patch_seconds: float | None


def _old(i: int) -> str:
    return f"# file {i}\nvalue = {i}\n\ndef f():\n    return value\n"


def _new(i: int) -> str:
    return f"# file {i}\nvalue = {i} + 1\n\ndef f():\n    return value\n"


def _content(i: int) -> str:
    return f"# new file {i}\nname = 'n{i}'\n\nprint(name)\n"


def _directory(i: int, layout: str) -> str:
    if layout in ("flat", "crowded"):
        return "src/many"
    if layout == "newdirs":
        return f"src/new/d{i:06d}"
    return f"src/pkg{i % DIRECTORIES}"


def _hunk(lines: list[str], sign: str) -> str:
    return "".join(sign + line for line in lines)


def make_case(scratch: Path, files: int, layout: str, *, policy: str = "permissive") -> Case:
    """Build under ``scratch`` the workspace and inputs of one case (see the module doc);
    ``policy``: ``permissive`` (tests/data/permissive-policy.yaml) or ``governed`` (the
    packaged defaults, limits raised)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
    base = scratch / "base"
    (base / "agent" / "policies").mkdir(parents=True)
    policy_file = base / "agent" / "policies" / "default.yaml"
    if policy == "governed":
        policy_file.write_text(GOVERNED_POLICY)
    else:
        shutil.copyfile(POLICY, policy_file)
    for i in range(DIRECTORIES if layout != "newdirs" else 0):
        (base / _directory(i, layout)).mkdir(parents=True, exist_ok=True)
    (base / "src").mkdir(exist_ok=True)
    if layout == "crowded":
        for i in range(files):
            (base / "src" / "many" / f"old{i:06d}.py").write_text(_old(i))
    changes: list[dict[str, str]] = []
    diff: list[str] = []
    for i in range(files):
        path = f"{_directory(i, layout)}/m{i:06d}.py"
        if layout == "modify":
            old, new = _old(i), _new(i)
            (base / path).write_text(old)
            changes.append({"op": "modify", "path": path, "content": new})
            diff.append(
                f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
                f"@@ -1,5 +1,5 @@\n {old.splitlines(True)[0]}-{old.splitlines(True)[1]}"
                f"+{new.splitlines(True)[1]}{_hunk(old.splitlines(True)[2:], ' ')}"
            )
        else:
            text = _content(i)
            lines = text.splitlines(True)
            changes.append({"op": "create", "path": path, "content": text})
            diff.append(
                f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n"
                f"+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{_hunk(lines, '+')}"
            )
    intent = f"scale: {files} files, {layout}"
    manifest_json = scratch / "change.json"
    manifest_json.write_text(json.dumps({"intent": intent, "changes": changes}))
    manifest_yaml = scratch / "change.yaml"
    manifest_yaml.write_text(_yaml_manifest(intent, changes))
    diff_file = scratch / "change.diff"
    diff_file.write_text("".join(diff))
    return Case(base, manifest_yaml, manifest_json, diff_file, files, layout)


def _yaml_manifest(intent: str, changes: list[dict[str, str]]) -> str:
    """The manifest in block style, as a person (or an agent) writes one."""
    out = [f"intent: {json.dumps(intent)}\nchanges:\n"]
    for change in changes:
        out.append(f"  - op: {change['op']}\n    path: {change['path']}\n    content: |\n")
        out.extend(f"      {line}" for line in change["content"].splitlines(True))
    return "".join(out)


def _run(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of ``command`` run to completion in ``cwd``
    (``measure.spawn``: a clean memory figure however large this process is)."""
    from measure import spawn

    elapsed, rss, code, tail = spawn(command, cwd=cwd)
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} exited {code}: {tail}")
    return elapsed, rss


def _fresh(case: Case, scratch: Path, name: str) -> Path:
    work = scratch / name
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(case.base, work, symlinks=True)
    return work


def measure(
    agentos: Path | str,
    case: Case,
    *,
    scratch: Path,
    input_kind: str = "yaml",
    references: bool = True,
) -> Measurement:
    """Time ``agentos plan`` then ``agentos apply`` (each a cold process) of ``case`` in a
    fresh copy of its workspace, and the apply once more (a replay); with ``references``,
    also ``git apply`` and ``patch -p1`` of the same diff, each in a fresh copy. The copies
    are removed afterwards."""
    source = {"yaml": case.manifest_yaml, "json": case.manifest_json, "diff": case.diff}[input_kind]
    work = _fresh(case, scratch, "agentos")
    plan_file = scratch / "plan.json"
    plan = _run([str(agentos), "plan", str(source), "-q", "-o", str(plan_file)], work)
    apply = _run([str(agentos), "apply", str(plan_file), "-q"], work)
    replay = _run([str(agentos), "apply", str(plan_file), "-q"], work)
    shutil.rmtree(work)
    git_seconds = patch_seconds = None
    if references and shutil.which("git"):
        work = _fresh(case, scratch, "git")
        git_seconds = _run(["git", "apply", "-p1", str(case.diff)], work)[0]
        shutil.rmtree(work)
    if references and shutil.which("patch"):
        work = _fresh(case, scratch, "patch")
        patch_seconds = _run(["patch", "-p1", "-s", "-i", str(case.diff)], work)[0]
        shutil.rmtree(work)
    return Measurement(plan[0], plan[1], apply[0], apply[1], replay[0], git_seconds, patch_seconds)


def scale_ratio(
    agentos: Path | str, *, small: int = 1000, large: int = 10_000, layout: str = "dirs"
) -> tuple[float, float]:
    """SPEC §11's scale figure: plan + apply seconds of ``small`` and of ``large`` files (the
    target: large <= 12 x small for 1k and 10k)."""
    totals = []
    for files in (small, large):
        with tempfile.TemporaryDirectory() as scratch_dir:
            scratch = Path(scratch_dir)
            case = make_case(scratch / "case", files, layout)
            result = measure(agentos, case, scratch=scratch, references=False)
            totals.append(result.plan_seconds + result.apply_seconds)
    return totals[0], totals[1]


def main(argv: list[str]) -> int:
    """Print one table row per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--layout", choices=LAYOUTS, default="dirs")
    parser.add_argument("--input", choices=INPUTS, default="yaml")
    parser.add_argument("--policy", choices=POLICIES, default="permissive")
    parser.add_argument("--agentos", default=str(AGENTOS))
    parser.add_argument("--no-references", action="store_true")
    args = parser.parse_args(argv)
    print(
        "| files | layout | input | plan s | plan MiB | apply s | apply MiB | replay s "
        "| git apply s | patch s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for files in args.files:
        with tempfile.TemporaryDirectory() as scratch_dir:
            scratch = Path(scratch_dir)
            case = make_case(scratch / "case", files, args.layout, policy=args.policy)
            result = measure(
                args.agentos,
                case,
                scratch=scratch,
                input_kind=args.input,
                references=not args.no_references,
            )

        def shown(value: float | None) -> str:
            return "—" if value is None else f"{value:.2f}"

        print(
            f"| {files:,} | {args.layout} | {args.input} | {result.plan_seconds:.2f} | "
            f"{result.plan_rss / 2**20:.0f} | {result.apply_seconds:.2f} | "
            f"{result.apply_rss / 2**20:.0f} | {result.replay_seconds:.2f} | "
            f"{shown(result.git_apply_seconds)} | "
            f"{shown(result.patch_seconds)} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
