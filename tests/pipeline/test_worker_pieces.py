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
    claimed: list[int] = []
    lock = threading.Lock()

    def claim() -> None:
        while True:
            ticket = budget.take()
            if ticket is False:
                return
            if ticket is None:  # the rest is on loan to another thread
                time.sleep(0.001)
                continue
            budget.spend()
            with lock:
                claimed.append(1)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 50
    assert budget.take() is False
    assert all(Budget(None).take() for _ in range(1000))


def test_a_ticket_on_loan_makes_the_others_wait_not_stop() -> None:
    budget = Budget(1)
    assert budget.take() is True
    assert budget.take() is None  # on loan: look again, do not give up
    budget.give_back()  # nothing was claimed with it
    assert budget.take() is True
    budget.spend()
    assert budget.take() is False


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
