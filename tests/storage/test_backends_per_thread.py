"""Each thread gets its own backend instance: a plugin never sees two threads at once."""

from __future__ import annotations

import threading

from grc_core.backends import Backends


class Counting:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_each_thread_builds_its_own_instance_and_close_closes_them_all() -> None:
    built: list[Counting] = []

    def build(name: str) -> Counting:
        built.append(Counting())
        return built[-1]

    backends = Backends(build, "local")  # type: ignore[arg-type]
    mine = backends.default
    assert backends.get("local") is mine  # built once per thread
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(backends.get("local")))
    thread.start()
    thread.join()
    assert seen[0] is not mine
    assert len(built) == 2
    backends.close()
    assert [b.closed for b in built] == [1, 1]


def test_instances_given_by_the_host_are_shared() -> None:
    shared = Counting()
    backends = Backends.of({"local": shared}, "local")  # type: ignore[dict-item]
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(backends.get("local")))
    thread.start()
    thread.join()
    assert seen == [shared] and backends.get("local") is shared
    backends.close()
    assert shared.closed == 1
