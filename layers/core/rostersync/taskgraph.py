"""A small task graph run on a few threads: each task starts once the tasks it needs are done.

Used by validation (:mod:`rostersync.validate`) to check independent entities side by side: the
heavy work is in Arrow and numpy kernels, which release the GIL, so two threads use two cores.
The calling thread is one of the workers. Among the tasks ready to start, the earliest in the
given order starts first; a task's result is handed to the tasks that need it and dropped once
the last of them has started, unless it is one the caller keeps. With one worker the tasks run
in the calling thread, in that same order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Task(Generic[K]):
    """``run`` is called with the results of ``needs``, in that order."""

    run: Callable[..., Any]
    needs: Sequence[K] = ()


class _Graph(Generic[K]):
    def __init__(self, tasks: Mapping[K, Task[K]], keep: Callable[[K], bool]) -> None:
        unknown = {need for task in tasks.values() for need in task.needs} - set(tasks)
        if unknown:
            raise ValueError(f"tasks need tasks that do not exist: {sorted(map(str, unknown))}")
        self.waiting = dict(tasks)
        self.keep = keep
        self.results: dict[K, Any] = {}
        self.finished: set[K] = set()
        self.users = {name: 0 for name in tasks}
        for task in tasks.values():
            for need in task.needs:
                self.users[need] += 1

    def next_ready(self) -> tuple[K, Callable[[], Any]] | None:
        """The first waiting task whose needs are all done, with its arguments bound."""
        for name, task in self.waiting.items():
            if all(need in self.finished for need in task.needs):
                del self.waiting[name]
                args = [self.results[need] for need in task.needs]
                for need in task.needs:
                    self.users[need] -= 1
                    if self.users[need] == 0 and not self.keep(need):
                        del self.results[need]
                return name, (lambda run=task.run, args=args: run(*args))
        return None

    def done(self, name: K, result: Any) -> None:
        self.finished.add(name)
        if self.users[name] or self.keep(name):
            self.results[name] = result


class _Workers(Generic[K]):
    """Threads that each take the next ready task from the graph, run it and report it done."""

    def __init__(self, graph: _Graph[K]) -> None:
        self.graph = graph
        self.ready = threading.Condition()
        self.running = 0
        self.error: BaseException | None = None

    def _take(self) -> tuple[K, Callable[[], Any]] | None:
        """The next task to run, waiting while none is ready but some are running; None when
        there is nothing left for this thread to do."""
        with self.ready:
            while self.error is None and self.graph.waiting:
                task = self.graph.next_ready()
                if task is not None:
                    self.running += 1
                    return task
                if self.running == 0:
                    self.error = ValueError("the tasks need each other in a circle")
                    self.ready.notify_all()
                    return None
                self.ready.wait()
            return None

    def work(self) -> None:
        while (task := self._take()) is not None:
            name, run = task
            try:
                result = run()
            except BaseException as error:  # handed to the calling thread, raised there
                with self.ready:
                    self.error = self.error or error
                    self.running -= 1
                    self.ready.notify_all()
                return
            with self.ready:
                self.graph.done(name, result)
                self.running -= 1
                self.ready.notify_all()


def run_tasks(tasks: Mapping[K, Task[K]], *, workers: int, keep: Callable[[K], bool]) -> dict[K, Any]:
    """Run every task once, at most ``workers`` at a time; return the results ``keep`` picks.

    The first exception a task raises is raised here (tasks already running are waited for)."""
    graph = _Graph(tasks, keep)
    if workers <= 1:
        while graph.waiting:
            ready = graph.next_ready()
            if ready is None:
                raise ValueError("the tasks need each other in a circle")
            graph.done(ready[0], ready[1]())
        return graph.results
    # The calling thread is one of the workers: memory it freed earlier (the files read) is
    # cached by the allocators for it, so its tasks fault in fewer fresh pages than a new
    # thread's would. Each thread takes the next ready task as soon as it is free.
    shared = _Workers(graph)
    helpers = [threading.Thread(target=shared.work, name=f"rostersync-{i}") for i in range(workers - 1)]
    for helper in helpers:
        helper.start()
    try:
        shared.work()
    finally:
        for helper in helpers:
            helper.join()
    if shared.error is not None:
        raise shared.error
    return graph.results
