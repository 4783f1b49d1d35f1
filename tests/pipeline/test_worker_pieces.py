"""The worker's pure pieces: the wait between push races, the jobs budget its slots share,
and the stop a front-end asks for (safe to call from a signal handler)."""

from __future__ import annotations

import random
import threading
import time

from hypothesis import given
from hypothesis import strategies as st

from agentos.pipeline.jobrun import PUSH_RACES, RACE_WAIT_BASE, RACE_WAIT_MAX, race_wait
from agentos.pipeline.workerjob import WorkerControl
from agentos.pipeline.workerslot import Budget


@given(race=st.integers(min_value=1, max_value=PUSH_RACES), seed=st.integers(0, 2**32))
def test_a_race_wait_stays_within_its_doubling_window(race: int, seed: int) -> None:
    wait = race_wait(race, random.Random(seed))  # noqa: S311 - test data
    assert 0.0 <= wait <= min(RACE_WAIT_MAX, RACE_WAIT_BASE * 2 ** (race - 1))


def test_race_waits_grow_and_differ_between_runners() -> None:
    rng = random.Random(7)  # noqa: S311 - test data
    early = [race_wait(1, rng) for _ in range(200)]
    late = [race_wait(10, rng) for _ in range(200)]
    assert max(early) <= RACE_WAIT_BASE < max(late) <= RACE_WAIT_MAX
    # Full jitter: two runners that lost the same race do not come back in step.
    assert len({round(w, 6) for w in late}) > 150


def test_a_budget_is_shared_exactly_across_threads() -> None:
    budget = Budget(50)
    taken: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(40):
            got = budget.take()
            with lock:
                taken.append(got)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == 50
    budget.give_back()
    assert budget.take() and not budget.take()
    assert all(Budget(None).take() for _ in range(1000))


def test_a_stop_cuts_a_wait_short_and_stops_the_token_once() -> None:
    control = WorkerControl()
    assert not control.stopping()
    started = time.monotonic()
    threading.Timer(0.2, control.stop, args=("SIGTERM",)).start()
    control.wait(30)
    assert time.monotonic() - started < 5
    control.stop("SIGINT")  # the first reason stays
    assert control.stopping() and control.reason == "SIGTERM"
    assert control.token.reason == "SIGTERM"
