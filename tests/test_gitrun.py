"""``agentos.gitrun``: the one way agentos runs git — the real runner (fixed configuration,
a use's own settings, an output limit that stops git, a timeout), git's reasons on one line,
and the messages for git missing, no repository and an unknown revision."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentos import gitrun
from agentos.errors import UsageError
from agentos.gitrun import ARGS_PER_CALL, Git, GitOutput, arg_batches, run_git
from helpers import needs_git
from helpers import run_git as git


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (b"fatal: not a git repository\n", "not a git repository"),
        (b"error: one\nfatal: two\nhint: do this\n", "two"),
        (
            b"The following paths are ignored:\nlog.txt\nhint: Use -f\nhint: or not\n",
            "The following paths are ignored: log.txt",
        ),
        (b"", "exit status 128"),
    ],
)
def test_git_s_reason_is_one_line(stderr: bytes, reason: str) -> None:
    assert GitOutput(128, b"", stderr).reason() == reason


def test_paths_are_split_on_nul_only() -> None:
    assert GitOutput(0, "a b\0naïve\nx\0".encode(), b"").paths() == ["a b", "naïve\nx"]


def test_arguments_are_batched_within_the_limit() -> None:
    assert arg_batches([]) == []
    assert arg_batches(["a", "b"]) == [["a", "b"]]
    long = ["x" * 1000] * 200
    batches = arg_batches(long)
    assert len(batches) > 1
    assert [path for batch in batches for path in batch] == long
    assert all(sum(len(p) + 1 for p in batch) <= ARGS_PER_CALL for batch in batches)


def test_git_missing_names_the_option_and_what_to_do_instead(tmp_path: Path) -> None:
    def missing(args: Sequence[str], **_: object) -> GitOutput:
        raise FileNotFoundError("git")

    with pytest.raises(UsageError, match="git is not installed") as caught:
        Git(tmp_path, missing, option="--staged", instead="plan from a patch file").run("status")
    assert "--staged needs it" in caught.value.message
    assert caught.value.message.endswith("or plan from a patch file")


@needs_git
def test_the_fixed_configuration_beats_the_repository_s(git_repo: Path) -> None:
    git(git_repo, "config", "color.ui", "always")
    git(git_repo, "config", "core.pager", "false")
    out = run_git(["log", "-1", "--format=%s", "--decorate"], cwd=git_repo)
    assert out.stdout == b"start\n"
    # Pathspecs are literal: "*.txt" names no file.
    listed = run_git(["ls-files", "--", "*.txt"], cwd=git_repo)
    assert listed.returncode == 0
    assert listed.stdout == b""
    # ... unless a command asks otherwise.
    globbed = run_git(["ls-files", "--", "*.txt"], cwd=git_repo, env={"GIT_LITERAL_PATHSPECS": "0"})
    assert globbed.stdout.count(b"\n") == 2


@needs_git
def test_a_use_s_settings_come_after_the_fixed_ones(git_repo: Path) -> None:
    out = run_git(["config", "color.ui"], cwd=git_repo, config=("color.ui=auto",))
    assert out.stdout == b"auto\n"
    assert run_git(["config", "color.ui"], cwd=git_repo).stdout == b"never\n"


@needs_git
def test_a_limit_stops_git_and_says_so(git_repo: Path) -> None:
    # Many requests on standard input, far more output than the limit: git is fed and
    # read at once (no stall), and stopped at the limit.
    request = b"HEAD:a.txt\n" * 100_000
    cut = run_git(["cat-file", "--batch"], cwd=git_repo, stdin=request, limit=1000)
    assert cut.overflow
    assert len(cut.stdout) == 1001
    whole = run_git(["cat-file", "--batch"], cwd=git_repo, stdin=request[:1100], limit=1 << 20)
    assert not whole.overflow
    assert whole.returncode == 0
    assert whole.stdout.count(b" blob 2\n") == 100


@needs_git
@pytest.mark.parametrize("limit", [None, 1000])
def test_a_git_that_does_not_finish_is_stopped(
    git_repo: Path, limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gitrun, "GIT_TIMEOUT", 0.2)
    started = time.monotonic()
    out = run_git(["slow"], cwd=git_repo, config=("alias.slow=!sleep 1",), limit=limit)
    assert time.monotonic() - started < 10
    assert out.returncode == -1
    assert out.reason() == "git slow did not finish in 0.2s"
