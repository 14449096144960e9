"""New request ids: read ahead from the OS CSPRNG, never shared by threads or processes."""

from __future__ import annotations

import re
import threading

from opskit import ids
from opskit.ids import ID_BATCH, new_request_id
from tests.forking import in_forked_child

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_128_random_bits_never_repeated() -> None:
    drawn = [new_request_id() for _ in range(20 * ID_BATCH)]
    assert all(HEX32.fullmatch(i) for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_threads_never_get_the_same_id() -> None:
    ids._pool.clear()
    out: list[list[str]] = [[] for _ in range(8)]

    def draw(sink: list[str]) -> None:
        for _ in range(3 * ID_BATCH):
            sink.append(new_request_id())

    threads = [threading.Thread(target=draw, args=(sink,)) for sink in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for sink in out for i in sink]
    assert len(set(everything)) == len(everything) == 8 * 3 * ID_BATCH


def test_a_forked_child_never_hands_out_its_parents_ids() -> None:
    new_request_id()  # the parent has ids read ahead
    ahead = set(ids._pool)
    assert len(ahead) == ID_BATCH - 1
    _, data = in_forked_child(lambda: " ".join(new_request_id() for _ in range(ID_BATCH)).encode())
    child = set(data.decode().split())
    assert len(child) == ID_BATCH
    assert not child & ahead
    assert {new_request_id() for _ in range(ID_BATCH - 1)} == ahead  # the parent's, still
