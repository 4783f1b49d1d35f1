"""The CI recipes of docs/ci.md, run as written: ``examples/ci/github-actions.yml`` (the
preview, on ``pull_request``), ``examples/ci/github-actions-apply.yml`` (plan again, approve,
apply, on ``workflow_run``) and ``examples/ci/gitlab-ci.yml`` (the preview in merge request
pipelines; plan again, approve, apply in a pipeline of protected ``main`` given
``AGENTOS_MR_IID``) are parsed, and the shell steps of each job are run in order with bash —
each job on a runner of its own (a fresh checkout, its own temp folder, home and agentos
workspace key, as a hosted runner gives) — against a bare remote holding a project and its
pull request (``cirepos``). Any step that fails fails the test.

What the CI service does around the steps is emulated, the same way for every job:

- the environment: the CI service's documented variables (``GITHUB_BASE_REF``,
  ``GITHUB_STEP_SUMMARY`` — a file —, ``GITHUB_RUN_ID`` ...; ``CI_COMMIT_SHA``,
  ``CI_MERGE_REQUEST_TARGET_BRANCH_NAME``, ``GITLAB_USER_LOGIN`` ...) with this pull request's
  values (for the event: GitHub ``pull_request`` or ``workflow_run``; GitLab a merge request
  pipeline, or a trusted one with the protected variables); GitHub ``${{ ... }}``
  expressions from a table of the ones the recipe uses (an
  expression the table does not know fails the test); GitLab ``variables`` expanded by bash;
  the installed ``agentos`` (this venv's ``bin``) first on ``PATH``;
- installing agentos: the step named "Install agentos" (GitHub) and ``before_script``
  (GitLab) are not run — agentos is already installed on ``PATH`` — and ``agentos --version``
  is run instead; ``actions/setup-python`` does nothing (the venv's Python is on ``PATH``);
- ``actions/checkout``: ``git init``, ``origin`` the bare remote, a fetch of ``with.ref``
  (``fetch-depth`` deep, default 1; 0: every branch) and a checkout of it as a local branch;
  the GitLab runner: a fetch of every branch (``GIT_DEPTH: 0``) and a detached checkout of
  ``CI_COMMIT_SHA``. GitHub's ``refs/pull/1/head`` is pushed to the remote, as GitHub keeps it;
- ``actions/upload-artifact`` / ``download-artifact`` and GitLab ``artifacts:paths`` (given
  to the jobs that ``need`` them): copies through a folder of the test;
  ``github/codeql-action/upload-sarif``: the SARIF file is kept (and must be valid JSON);
- the services the steps call: ``gh`` (``gh pr comment`` keeps the comment's body;
  ``gh api .../pulls/N`` answers the pull request author's login, ``gh api .../approvals``
  the reviewer who approved the environment) and ``curl`` (keeps the body of the merge request
  note; a GET answers the merge request's JSON) are scripts on ``PATH``;
- the push URLs with a token (GitHub's ``https://x-access-token:TOKEN@github.com/...``,
  GitLab's ``https://agentos-ci:TOKEN@HOST/PROJECT.git``) are the bare remote, through git's
  ``url.<base>.insteadOf`` (set in the environment, ``GIT_CONFIG_COUNT``); the remote serves a
  commit by id and keeps the pull request's head refs, as both services do;
- ``if:`` on a GitHub step: ``!cancelled()`` and ``always()`` run it after a failed step
  (the emulated upload-sarif needs its file); any other condition fails the test;
- the approval environment / manual job: the approve job runs (the reviewer ``bob``
  approved); ``environment``, ``concurrency`` and ``resource_group`` are checked for, not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentos.cli.views.markdown import ZWSP
from cirepos import PLANNED, TITLE, Project, git, make_project
from helpers import AGENTOS, REPO_ROOT, needs_agentos, needs_git

pytestmark = [needs_agentos, needs_git, pytest.mark.git]

RECIPES = REPO_ROOT / "examples" / "ci"
APPROVAL_KEY = "ci approval key"
REVIEWER = "bob"
AUTHOR = "alice"
STEP_TIMEOUT = 60
GITLAB_HOST = "gitlab.example.com"
PUSH_TOKEN = "push-token"  # noqa: S105 - the emulated remote takes any

FAKE_GH = r"""#!/usr/bin/env bash
# gh, as the recipe's steps call it (see the test's docstring).
set -eu
printf '%s\n' "$*" >> "$FAKE_LOG"
case "$1 ${2:-}" in
  "api "*/pulls/*) printf '%s\n' "$FAKE_AUTHOR" ;;
  "api "*) printf '%s\n' "$FAKE_REVIEWER" ;;
  "pr comment")
    while [ $# -gt 0 ]; do
      if [ "$1" = --body-file ]; then cp "$2" "$FAKE_OUT/comment-$(date +%s%N).md"; fi
      shift
    done ;;
  *) echo "fake gh: unexpected: $*" >&2; exit 1 ;;
esac
"""
FAKE_CURL = r"""#!/usr/bin/env bash
# curl, as the recipe's steps call it (see the test's docstring).
set -eu
printf '%s\n' "$*" >> "$FAKE_LOG"
post=0
while [ $# -gt 0 ]; do
  case "$1" in
    --request) post=1; shift ;;
    --data-urlencode) cp "${2#body@}" "$FAKE_OUT/note-$(date +%s%N).md"; shift ;;
  esac
  shift
done
if [ "$post" = 0 ]; then cat "$FAKE_MR"; fi
"""


@dataclass
class Ci:
    """The CI service around the jobs: the remote, the artifacts, the services' records."""

    root: Path
    project: Project
    pr_head: str
    artifacts: Path = field(init=False)
    out: Path = field(init=False)
    bin: Path = field(init=False)
    runs: int = 0

    def __post_init__(self) -> None:
        self.artifacts = self.root / "artifacts"
        self.out = self.root / "service"
        self.bin = self.root / "fake-bin"
        for folder in (self.artifacts, self.out, self.bin):
            folder.mkdir(parents=True)
        for name, script in (("gh", FAKE_GH), ("curl", FAKE_CURL)):
            (self.bin / name).write_text(script)
            (self.bin / name).chmod(0o755)

    @property
    def remote_url(self) -> str:
        return self.project.remote.as_uri()

    def runner(self, job: str) -> Runner:
        """A fresh runner for one run of ``job``."""
        self.runs += 1
        home = self.root / f"run-{self.runs}-{job}"
        for name in ("work", "temp", "home", "keys"):
            (home / name).mkdir(parents=True)
        (home / "home" / ".gitconfig").write_text("")
        env = {
            "PATH": os.pathsep.join([str(AGENTOS.parent), str(self.bin), os.environ["PATH"]]),
            "HOME": str(home / "home"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "NO_COLOR": "1",
            "CI": "true",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / "home" / ".gitconfig"),
            "GIT_CEILING_DIRECTORIES": str(self.root),
            "AGENTOS_KEY_DIR": str(home / "keys"),
            "FAKE_LOG": str(self.out / "calls.log"),
            "FAKE_OUT": str(self.out),
            "FAKE_REVIEWER": REVIEWER,
            "FAKE_AUTHOR": AUTHOR,
            "FAKE_MR": str(self.out / "mr.json"),
        }
        return Runner(self, home, home / "work", env)

    def comments(self, prefix: str) -> list[str]:
        return [p.read_text() for p in sorted(self.out.glob(f"{prefix}-*.md"))]


@dataclass
class Runner:
    """One job's machine: its checkout, temp folder, home and environment."""

    ci: Ci
    home: Path
    work: Path
    env: dict[str, str]

    def bash(self, script: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        path = self.home / "temp" / f"step-{len(list((self.home / 'temp').glob('step-*')))}.sh"
        path.write_text(script)
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
            cwd=self.work,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT,
        )

    def git(self, *args: str) -> str:
        return git(self.work, *args)

    def fetch_and_checkout(self, refspecs: list[str], depth: int, checkout: list[str]) -> None:
        self.git("init", "-q")
        self.git("remote", "add", "origin", self.ci.remote_url)
        deep = [] if depth == 0 else [f"--depth={depth}"]
        self.git("fetch", "-q", *deep, "origin", *refspecs)
        self.git("checkout", "-q", *checkout)


def finished(run: subprocess.CompletedProcess[str], what: str) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 0, f"{what} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"


# -- GitHub Actions ---------------------------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def github_expressions(ci: Ci) -> dict[str, str]:
    """The value of each expression the recipe uses, for this pull request."""
    return {
        "github.base_ref": "main",
        "github.token": "fake-token",
        "github.event.pull_request.number": "1",
        "github.event.pull_request.title": TITLE,
        "github.event.pull_request.user.login": AUTHOR,
        "github.event.pull_request.head.sha": ci.pr_head,
        "github.event.repository.default_branch": "main",
        "github.event.workflow_run.pull_requests[0].number": "1",
        "github.event.workflow_run.display_title": TITLE,
        "github.event.workflow_run.head_sha": ci.pr_head,
        "github.event.workflow_run.head_branch": "feature",
        "secrets.AGENTOS_APPROVAL_KEY": APPROVAL_KEY,
        "secrets.AGENTOS_PUSH_TOKEN": PUSH_TOKEN,
        "vars.AGENTOS_PIP_SPEC": "agentos @ file:///not/used",
    }


def expand(value: Any, table: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in table, f"the test does not know ${{{{ {match.group(1)} }}}}"
        return table[match.group(1)]

    return EXPRESSION.sub(one, str(value))


def github_env(ci: Ci, runner: Runner, event: str) -> dict[str, str]:
    """The variables of a job run for ``event``: ``pull_request`` (the pull request's merge
    ref, its base and head) or ``workflow_run`` (the default branch: no base or head ref)."""
    temp = runner.home / "temp"
    for name in ("summary.md", "output", "env"):
        (temp / name).touch()
    push_url = f"https://x-access-token:{PUSH_TOKEN}@github.com/octo/demo.git"
    pull = event == "pull_request"
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_BASE_REF": "main" if pull else "",
        "GITHUB_HEAD_REF": "feature" if pull else "",
        "GITHUB_REF": "refs/pull/1/merge" if pull else "refs/heads/main",
        "GITHUB_SHA": ci.pr_head if pull else remote(ci, "rev-parse", "main"),
        "GITHUB_ACTOR": AUTHOR,
        "GITHUB_REPOSITORY": "octo/demo",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_WORKSPACE": str(runner.work),
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
        "GITHUB_OUTPUT": str(temp / "output"),
        "GITHUB_ENV": str(temp / "env"),
        # The push URL with the token is the bare remote (as for GitLab, below).
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{ci.remote_url}.insteadOf",
        "GIT_CONFIG_VALUE_0": push_url,
    }


def github_uses(ci: Ci, runner: Runner, action: str, given: Mapping[str, str]) -> None:
    """What the action does, done locally (see the module's docstring)."""
    name = action.partition("@")[0]
    if name == "actions/checkout":
        ref = given["ref"]
        depth = int(given.get("fetch-depth", "1"))
        specs = ["+refs/heads/*:refs/remotes/origin/*"] if depth == 0 else []
        specs.append(f"+refs/heads/{ref}:refs/remotes/origin/{ref}")
        runner.fetch_and_checkout(specs, depth, ["-B", ref, f"refs/remotes/origin/{ref}"])
    elif name == "actions/setup-python":
        pass
    elif name == "actions/upload-artifact":
        source = runner.work / given["path"]
        assert source.exists() or given.get("if-no-files-found") != "error", source
        target = ci.artifacts / given["name"]
        target.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target / source.name)
    elif name == "actions/download-artifact":
        shutil.copytree(
            ci.artifacts / given["name"], runner.work / given["path"], dirs_exist_ok=True
        )
    elif name == "github/codeql-action/upload-sarif":
        source = runner.work / given["sarif_file"]
        if source.exists():
            json.loads(source.read_text())
            shutil.copy2(source, ci.out / f"code-scanning-{given['category']}.sarif")
    else:
        raise AssertionError(f"the test does not emulate {action}")


def github_job(ci: Ci, workflow: dict[str, Any], job_id: str) -> Runner:
    """Run one job of the workflow on a fresh runner, for the event the workflow is run by;
    each step must succeed."""
    table = github_expressions(ci)
    job = workflow["jobs"][job_id]
    runner = ci.runner(job_id)
    event = "workflow_run" if "workflow_run" in triggers(workflow) else "pull_request"
    base = {
        **github_env(ci, runner, event),
        **{k: expand(v, table) for k, v in job.get("env", {}).items()},
    }
    failed: str | None = None
    for step in job["steps"]:
        condition = str(step.get("if", ""))
        if condition:
            assert "!cancelled()" in condition or "always()" in condition, condition
        elif failed is not None:
            continue
        given = {k: expand(v, table) for k, v in step.get("with", {}).items()}
        if "uses" in step:
            github_uses(ci, runner, step["uses"], given)
            continue
        env = {**base, **{k: expand(v, table) for k, v in step.get("env", {}).items()}}
        if step.get("name") == "Install agentos":
            script = "agentos --version\n"
        else:
            assert "${{" not in step["run"], "expressions belong in env:, not in the script"
            script = step["run"]
        run = runner.bash(script, env)
        with (runner.home / "log.txt").open("a") as log:
            log.write(run.stdout + run.stderr)
        if run.returncode != 0 and failed is None:
            failed = (
                f"{job_id}: {step.get('name')}: exit {run.returncode}\n{run.stdout}{run.stderr}"
            )
    assert failed is None, failed
    return runner


def triggers(workflow: Mapping[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def github_workflow(name: str = "github-actions.yml") -> dict[str, Any]:
    doc = yaml.safe_load((RECIPES / name).read_text())
    assert isinstance(doc, dict)
    assert doc["defaults"]["run"]["shell"] == "bash"
    return doc


def job_order(jobs: Mapping[str, Any]) -> Iterator[str]:
    """The jobs in an order that respects ``needs``."""
    done: list[str] = []
    while len(done) < len(jobs):
        for name, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if name not in done and all(n in done for n in needs):
                done.append(name)
                yield name


def remote(ci: Ci, *args: str) -> str:
    return git(ci.project.remote, *args)


def assert_applied(ci: Ci, plan: dict[str, Any], approval_by: str) -> str:
    """The remote's main holds the pull request as one commit by agentos; its id."""
    main = remote(ci, "rev-parse", "main")
    assert remote(ci, "rev-parse", "main^") == ci.project.main
    assert remote(ci, "rev-parse", "main^{tree}") == remote(ci, "rev-parse", "feature^{tree}")
    trailers = remote(ci, "log", "-1", "--format=%(trailers:key=Agentos-Approved-By)", "main")
    assert trailers == f"Agentos-Approved-By: {approval_by}"
    assert f"Agentos-Plan: {plan['plan_id']}" in remote(ci, "log", "-1", "--format=%B", "main")
    stat = remote(ci, "show", "--stat", "-M", "--format=", "main")
    assert "src/{util.py => helpers.py}" in stat
    assert remote(ci, "log", "-1", "--format=%an", "main") == AUTHOR
    return main


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


def serve_pull_request(project: Project, head: str) -> None:
    """The remote as GitHub and GitLab keep it: the pull request's head under
    ``refs/pull/1/head`` and ``refs/merge-requests/7/head``, and a commit reachable from a
    ref fetched by its id (``git fetch origin SHA``)."""
    git(project.remote, "update-ref", "refs/pull/1/head", head)
    git(project.remote, "update-ref", "refs/merge-requests/7/head", head)
    git(project.remote, "config", "uploadpack.allowReachableSHA1InWant", "true")


def test_the_github_actions_recipe(tmp_path: Path, project: Project) -> None:
    preview = github_workflow()
    assert set(triggers(preview)) == {"pull_request"}
    assert list(preview["jobs"]) == ["plan"]
    assert preview["concurrency"] == {
        "group": "agentos-plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    # The apply: the default branch's own workflow, run when the preview completes.
    workflow = github_workflow("github-actions-apply.yml")
    assert triggers(workflow) == {
        "workflow_run": {"workflows": [preview["name"]], "types": ["completed"]}
    }
    assert "pull_request" not in yaml.safe_dump(triggers(workflow))
    jobs = workflow["jobs"]
    assert list(job_order(jobs)) == ["plan", "approve", "apply"]
    assert jobs["approve"]["environment"] == "agentos-approval"
    assert jobs["apply"]["environment"] == "agentos-apply"
    per_pr = {
        "group": "agentos-approve-${{ github.event.workflow_run.head_branch }}",
        "cancel-in-progress": True,
    }
    assert jobs["plan"]["concurrency"] == jobs["approve"]["concurrency"] == per_pr
    assert jobs["apply"]["concurrency"] == {"group": "agentos-apply", "cancel-in-progress": False}
    # No job of either workflow may push with the workflow's own token.
    for doc in (preview, workflow):
        for job in doc["jobs"].values():
            assert job.get("permissions", {}).get("contents") == "read"
    assert "secrets." not in (RECIPES / "github-actions.yml").read_text()
    serve_pull_request(project, project.feature)
    ci = Ci(tmp_path / "github", project, project.feature)

    planning = github_job(ci, preview, "plan")
    [comment] = ci.comments("comment")
    assert comment.startswith("## agentos plan `")
    assert ": NEED\\_APPROVAL" in comment.splitlines()[0]
    assert "rename from src/util.py\nrename to src/helpers.py\n" in comment
    assert "-TOKEN_TTL = 300\n+TOKEN_TTL = 600\n" in comment
    summary = (planning.home / "temp" / "summary.md").read_text()
    assert summary.startswith(comment)
    assert "## agentos check `" in summary
    sarif = json.loads((ci.out / "code-scanning-agentos.sarif").read_text())
    [finding] = sarif["runs"][0]["results"]
    assert finding["ruleId"] == "always-review"
    assert finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "src/security/tokens.py"
    )
    previewed = json.loads((ci.artifacts / "agentos-plan" / "plan.json").read_text())
    shutil.rmtree(ci.artifacts / "agentos-plan")  # another run's artifacts: never used

    # The trusted run plans the same pinned head again; the comment is now its plan.
    github_job(ci, workflow, "plan")
    plan = json.loads((ci.artifacts / "agentos-plan" / "plan.json").read_text())
    assert plan["changeset"]["checksum"] == previewed["changeset"]["checksum"]
    assert plan["intent"] == f"{TITLE} (#1)"
    assert plan["author"] == AUTHOR
    assert plan["base"]["commit"] == project.main
    assert len(ci.comments("comment")) == 2
    digest = sarif["runs"][0]["properties"]["policy"]["digest"]
    assert f"(`{digest}`)" in ci.comments("comment")[-1]
    assert f"#{ZWSP}1" in ci.comments("comment")[-1]  # a reference, made inert

    github_job(ci, workflow, "approve")
    approval = json.loads((ci.artifacts / "agentos-approval" / "approval.json").read_text())
    assert approval["approver"] == REVIEWER
    assert approval["signature"].startswith("hmac-sha256:")
    assert approval["comment"] == "https://github.com/octo/demo/actions/runs/4242"
    assert approval["policy_digest"] == digest

    applying = github_job(ci, workflow, "apply")
    commit = assert_applied(ci, plan, REVIEWER)
    assert remote(ci, "log", "-1", "--format=%cn", "main") == "agentos CI"
    summary = (applying.home / "temp" / "summary.md").read_text()
    assert f"## agentos apply `{plan['plan_id']}`: committed" in summary
    assert f"- **Git commit:** `{commit}`" in summary
    assert f"(`{digest}`)" in summary

    # The apply job re-run (a fresh runner): already applied, no new commit, nothing pushed.
    again = github_job(ci, workflow, "apply")
    assert remote(ci, "rev-parse", "main") == commit
    summary = (again.home / "temp" / "summary.md").read_text()
    assert f"## agentos apply `{plan['plan_id']}`: already\\_applied" in summary
    assert f"- **Git commit:** `{commit}` (made by an earlier run)" in summary
    calls = (ci.out / "calls.log").read_text().splitlines()
    assert calls[0].startswith("pr comment 1 --edit-last --create-if-none --body-file ")
    assert calls[1] == "api repos/octo/demo/pulls/1 --jq .user.login"
    assert calls[3].startswith("api repos/octo/demo/actions/runs/4242/approvals --jq ")


def test_a_pull_request_that_moved_on_is_applied_as_approved(
    tmp_path: Path, project: Project
) -> None:
    """The trusted run plans the head its preview planned (pinned), not what the branch
    holds by the time it runs: a later push gets a preview and a run of its own."""
    serve_pull_request(project, project.feature)
    pr = tmp_path / "pr"
    (pr / "README.md").write_text("# pushed after the preview\n")
    git(pr, "commit", "-q", "-am", "Later")
    git(pr, "push", "-q", "origin", "feature")
    git(project.remote, "update-ref", "refs/pull/1/head", "feature")
    ci = Ci(tmp_path / "github", project, project.feature)
    workflow = github_workflow("github-actions-apply.yml")
    for job in ("plan", "approve", "apply"):
        github_job(ci, workflow, job)
    plan = json.loads((ci.artifacts / "agentos-plan" / "plan.json").read_text())
    assert set(plan_paths(plan)) == PLANNED
    assert remote(ci, "rev-parse", "main^{tree}") == remote(
        ci, "rev-parse", f"{ci.pr_head}^{{tree}}"
    )
    assert remote(ci, "show", "main:README.md") == "# demo"


# -- GitLab CI/CD -----------------------------------------------------------------------------


def gitlab_env(ci: Ci, runner: Runner, *, user: str, trusted: bool) -> dict[str, str]:
    """A merge request pipeline's variables (no protected ones), or those of a pipeline of
    the protected ``main`` started for merge request 7 (``trusted``)."""
    push_url = f"https://agentos-ci:{PUSH_TOKEN}@{GITLAB_HOST}/group/demo.git"
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_DIR": str(runner.work),
        "CI_PROJECT_ID": "42",
        "CI_PROJECT_PATH": "group/demo",
        "CI_SERVER_HOST": GITLAB_HOST,
        "CI_API_V4_URL": f"https://{GITLAB_HOST}/api/v4",
        "CI_JOB_URL": f"https://{GITLAB_HOST}/group/demo/-/jobs/77",
        "GITLAB_USER_LOGIN": user,
        "AGENTOS_PIP_SPEC": "agentos @ file:///not/used",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{ci.remote_url}.insteadOf",
        "GIT_CONFIG_VALUE_0": push_url,
    }
    if not trusted:
        return env | {
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_COMMIT_SHA": ci.pr_head,
            "CI_COMMIT_REF_NAME": "feature",
            "CI_MERGE_REQUEST_IID": "7",
            "CI_MERGE_REQUEST_TITLE": TITLE,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
        }
    return env | {
        "CI_PIPELINE_SOURCE": "web",
        "CI_COMMIT_SHA": ci.project.main,
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_REF_PROTECTED": "true",
        "AGENTOS_MR_IID": "7",
        "AGENTOS_PUSH_TOKEN": PUSH_TOKEN,
        "AGENTOS_GITLAB_TOKEN": "api-token",
        "AGENTOS_APPROVAL_KEY": APPROVAL_KEY,
    }


def exports(variables: Mapping[str, Any]) -> str:
    """``export NAME="value"`` lines: bash expands ``$VAR`` in them as GitLab does."""
    lines = []
    for name, value in variables.items():
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
        lines.append(f'export {name}="{escaped}"')
    return "\n".join(lines) + "\n"


def gitlab_job(
    ci: Ci, config: dict[str, Any], name: str, *, user: str = AUTHOR, trusted: bool = False
) -> Runner:
    """Run one job: the runner's checkout (of the pipeline's commit: the merge request's head,
    or ``main`` for a ``trusted`` pipeline), the artifacts of the jobs it needs, its script."""
    job = config[name]
    commit = ci.project.main if trusted else ci.pr_head
    runner = ci.runner(name)
    variables = {**config.get("variables", {}), **job.get("variables", {})}
    assert variables["GIT_DEPTH"] == "0"
    heads = ["+refs/heads/*:refs/remotes/origin/*"]
    runner.fetch_and_checkout(heads, 0, ["--detach", commit])
    for needed in job.get("needs", []):
        stored = ci.artifacts / needed
        if stored.is_dir():
            shutil.copytree(stored, runner.work, dirs_exist_ok=True)
    assert "before_script" not in job  # the default one installs agentos: replaced
    assert all(isinstance(line, str) for line in job["script"]), "a script line YAML reads as a map"
    script = exports(variables) + "agentos --version\n" + "\n".join(job["script"]) + "\n"
    run = runner.bash(script, gitlab_env(ci, runner, user=user, trusted=trusted))
    (runner.home / "log.txt").write_text(run.stdout + run.stderr)
    finished(run, name)
    artifacts = job.get("artifacts", {})
    for pattern in artifacts.get("paths", []):
        for found in runner.work.glob(pattern.rstrip("/")):
            target = ci.artifacts / name / found.relative_to(runner.work)
            if found.is_dir():
                shutil.copytree(found, target, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(found, target)
    for report in artifacts.get("reports", {}).values():
        assert (runner.work / report).is_file(), report
    return runner


MR_RULE = [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
TRUSTED_IF = '$CI_COMMIT_REF_PROTECTED == "true" && $AGENTOS_MR_IID'


def test_the_gitlab_ci_recipe(tmp_path: Path, project: Project) -> None:
    config = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    assert config["workflow"]["rules"] == [*MR_RULE, {"if": TRUSTED_IF}]
    assert config["default"]["before_script"] == [
        'python -m pip install --quiet "$AGENTOS_PIP_SPEC"'
    ]
    jobs = {k: v for k, v in config.items() if isinstance(v, dict) and "script" in v}
    stages = config["stages"]
    order = sorted(jobs, key=lambda name: stages.index(jobs[name]["stage"]))
    assert order == [
        "agentos-preview", "agentos-policy-tests", "agentos-plan", "agentos-approve",
        "agentos-apply",
    ]  # fmt: skip
    # The merge request's pipeline previews (cancelled by a newer push); only the protected
    # branch's pipeline plans for approval, approves and applies (never cancelled).
    for name in ("agentos-preview", "agentos-policy-tests"):
        assert (jobs[name]["rules"], jobs[name]["interruptible"]) == (MR_RULE, True)
    for name in ("agentos-plan", "agentos-approve", "agentos-apply"):
        assert [rule["if"] for rule in jobs[name]["rules"]] == [TRUSTED_IF]
        assert jobs[name]["interruptible"] is False
    approve = jobs["agentos-approve"]
    assert approve["rules"][0] | {"if": ""} == {"if": "", "when": "manual", "allow_failure": False}
    assert approve["environment"]["name"] == "agentos-approval"
    assert jobs["agentos-apply"]["resource_group"] == "agentos-apply"
    serve_pull_request(project, project.feature)
    ci = Ci(tmp_path / "gitlab", project, project.feature)
    # The merge request as GitLab's API gives it (to the trusted pipeline's token).
    mr = {"sha": ci.pr_head, "title": TITLE, "author": {"username": AUTHOR}, "state": "opened"}
    (ci.out / "mr.json").write_text(json.dumps(mr | {"target_branch": "main"}))

    previewing = gitlab_job(ci, config, "agentos-preview", user="someone-who-pushed")
    assert ci.comments("note") == []  # no token in the merge request's pipeline
    log = (previewing.home / "log.txt").read_text()
    assert "rename from src/util.py\nrename to src/helpers.py\n" in log
    sarif = ci.artifacts / "agentos-preview" / "agentos-ci" / "agentos.sarif"
    assert json.loads(sarif.read_text())["runs"][0]["results"][0]["ruleId"] == "always-review"
    tests = gitlab_job(ci, config, "agentos-policy-tests")
    assert "<testsuite" in (tests.work / "agentos-ci" / "policy-tests.xml").read_text()

    # The pipeline of main, started by a maintainer for merge request 7.
    planning = gitlab_job(ci, config, "agentos-plan", user="maintainer", trusted=True)
    [note] = ci.comments("note")
    assert note.startswith("## agentos plan `")
    assert "rename from src/util.py\nrename to src/helpers.py\n" in note
    assert note in (planning.home / "log.txt").read_text()
    plan = json.loads((ci.artifacts / "agentos-plan" / "agentos-ci" / "plan.json").read_text())
    assert plan["intent"] == f"{TITLE} (!7)"
    assert plan["author"] == AUTHOR  # the merge request's author, not who started it
    calls = (ci.out / "calls.log").read_text()
    assert (
        "PRIVATE-TOKEN: api-token https://gitlab.example.com/api/v4/projects/42/merge_requests/7\n"
        in calls
    )

    # The manual job, run by the reviewer: GITLAB_USER_LOGIN is whoever ran it.
    gitlab_job(ci, config, "agentos-approve", user=REVIEWER, trusted=True)
    stored = ci.artifacts / "agentos-approve" / "agentos-ci" / "approval.json"
    approval = json.loads(stored.read_text())
    assert approval["approver"] == REVIEWER
    assert approval["signature"].startswith("hmac-sha256:")

    applying = gitlab_job(ci, config, "agentos-apply", trusted=True)
    commit = assert_applied(ci, plan, REVIEWER)
    assert remote(ci, "log", "-1", "--format=%cn <%ce>", "main") == (
        f"agentos CI <agentos-ci@{GITLAB_HOST}>"
    )
    report = (applying.work / "agentos-ci" / "apply.md").read_text()
    assert report.startswith(f"## agentos apply `{plan['plan_id']}`: committed")
    assert f"- **Git commit:** `{commit}`" in report

    again = gitlab_job(ci, config, "agentos-apply", trusted=True)
    assert remote(ci, "rev-parse", "main") == commit
    report = (again.work / "agentos-ci" / "apply.md").read_text()
    assert report.startswith(f"## agentos apply `{plan['plan_id']}`: already\\_applied")
    assert set(plan_paths(plan)) == PLANNED


def test_the_trusted_gitlab_pipeline_refuses_a_merge_request_for_another_branch(
    tmp_path: Path, project: Project
) -> None:
    config = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    serve_pull_request(project, project.feature)
    ci = Ci(tmp_path / "gitlab", project, project.feature)
    mr = {"sha": ci.pr_head, "title": TITLE, "author": {"username": AUTHOR}, "state": "opened"}
    (ci.out / "mr.json").write_text(json.dumps(mr | {"target_branch": "release"}))
    with pytest.raises(AssertionError, match="is not an open one for main"):
        gitlab_job(ci, config, "agentos-plan", user="maintainer", trusted=True)
    assert ci.comments("note") == []


def plan_paths(plan: dict[str, Any]) -> Iterator[str]:
    for change in plan["changeset"]["changes"]:
        yield change["path"]
        if change.get("from"):
            yield change["from"]


def test_a_denied_pull_request_fails_the_plan_job_and_is_still_shown(tmp_path: Path) -> None:
    """DENY: the plan job fails with exit 3 after the comment and the code-scanning upload;
    nothing is uploaded for the approve job."""
    project = make_project(tmp_path)
    pr = tmp_path / "pr"
    git(pr, "checkout", "-q", "feature")
    (pr / ".env").write_text("TOKEN=1\n")
    git(pr, "add", ".env")
    git(pr, "commit", "-q", "-m", "Add .env")
    git(pr, "push", "-q", "origin", "feature")
    head = git(pr, "rev-parse", "HEAD")
    git(project.remote, "update-ref", "refs/pull/1/head", head)
    ci = Ci(tmp_path / "github", project, head)
    with pytest.raises(AssertionError, match=r"plan: Plan the pull request: exit 3"):
        github_job(ci, github_workflow(), "plan")
    [comment] = ci.comments("comment")
    assert ": DENY" in comment.splitlines()[0]
    assert "forbidden-path" in comment
    sarif = json.loads((ci.out / "code-scanning-agentos.sarif").read_text())
    assert {r["level"] for r in sarif["runs"][0]["results"]} >= {"error"}
    assert not (ci.artifacts / "agentos-plan").exists()
