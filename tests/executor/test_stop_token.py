"""``StopToken``: how a long-lived front-end stops the apply it runs in a worker thread, where
no signal handler reaches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentos.errors import AbortedError
from agentos.executor.abort import AbortWatch, StopToken, stop_token


def test_a_stop_reaches_the_watch_of_an_execution_started_in_the_block(tmp_path: Path) -> None:
    token = StopToken()
    with stop_token(token):
        watch = AbortWatch(tmp_path / "abort")
    assert watch.requested() is None
    token.stop("SIGTERM to agentos mcp")
    token.stop("a later reason is not kept")
    assert watch.requested() == "SIGTERM to agentos mcp"
    with pytest.raises(AbortedError, match="SIGTERM to agentos mcp"):
        watch.check()


def test_the_token_is_taken_when_the_watch_is_made_not_where_it_is_asked(
    tmp_path: Path,
) -> None:
    token = StopToken()
    with stop_token(token):
        watch = AbortWatch(tmp_path / "abort")
    token.stop("client went away")
    asked: list[str | None] = []
    # Health checks ask from their own threads.
    worker = threading.Thread(target=lambda: asked.append(watch.requested()))
    worker.start()
    worker.join()
    assert asked == ["client went away"]


def test_outside_the_block_and_in_other_threads_nothing_is_stopped(tmp_path: Path) -> None:
    token = StopToken()
    token.stop("stopped")
    made: list[AbortWatch] = []
    with stop_token(token):
        other = threading.Thread(target=lambda: made.append(AbortWatch(tmp_path / "a")))
        other.start()
        other.join()
    after = AbortWatch(tmp_path / "abort")
    assert made[0].requested() is None
    assert after.requested() is None
