"""The task graph validation runs on (rostersync.taskgraph)."""

from __future__ import annotations

import threading

import pytest

from rostersync.taskgraph import Task, run_tasks


def _keep_all(name: str) -> bool:
    return True


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_gets_the_results_of_the_tasks_it_needs_in_their_order(workers: int) -> None:
    tasks = {
        "a": Task(lambda: 2),
        "b": Task(lambda: 3),
        "c": Task(lambda b, a: b - a, ["b", "a"]),
    }

    assert run_tasks(tasks, workers=workers, keep=_keep_all) == {"a": 2, "b": 3, "c": 1}


def test_one_worker_starts_ready_tasks_in_the_order_given() -> None:
    started: list[str] = []
    tasks = {
        name: Task(lambda *_, name=name: started.append(name), needs)
        for name, needs in [("late", ["first"]), ("first", []), ("second", [])]
    }

    run_tasks(tasks, workers=1, keep=_keep_all)

    assert started == ["first", "late", "second"]


def test_two_workers_run_independent_tasks_at_the_same_time() -> None:
    # Each of the two tasks waits for the other to have started: only two threads finish this.
    barrier = threading.Barrier(2, timeout=5)
    tasks = {name: Task(barrier.wait) for name in ("a", "b")}

    assert sorted(run_tasks(tasks, workers=2, keep=_keep_all).values()) == [0, 1]


def test_results_not_kept_are_dropped_once_used() -> None:
    tasks = {"a": Task(lambda: 1), "b": Task(lambda a: a + 1, ["a"])}

    assert run_tasks(tasks, workers=2, keep=lambda name: name == "b") == {"b": 2}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_task_fails_the_run_and_its_dependents_never_start(workers: int) -> None:
    started: list[str] = []

    def fail() -> None:
        raise RuntimeError("bad row")

    tasks = {"a": Task(fail), "b": Task(lambda a: started.append("b"), ["a"])}

    with pytest.raises(RuntimeError, match="bad row"):
        run_tasks(tasks, workers=workers, keep=_keep_all)
    assert started == []


def test_a_task_that_needs_a_missing_task_is_refused() -> None:
    with pytest.raises(ValueError, match="do not exist"):
        run_tasks({"a": Task(lambda x: x, ["x"])}, workers=1, keep=_keep_all)


@pytest.mark.parametrize("workers", [1, 2])
def test_tasks_that_need_each_other_are_refused(workers: int) -> None:
    tasks = {"a": Task(lambda b: b, ["b"]), "b": Task(lambda a: a, ["a"])}

    with pytest.raises(ValueError, match="circle"):
        run_tasks(tasks, workers=workers, keep=_keep_all)
