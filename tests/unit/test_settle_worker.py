"""A worker's long-lived objects are left out of the garbage collector's full passes once
it has built its app (portal.serving.settle_worker): those passes had stopped every request
for 82-110 ms every few seconds. Run in a process of its own, so this one is not frozen."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
from portal.serving import settle_worker
made_at_start = [object() for _ in range(1000)]  # the app, its templates, its policies
tracked = {id(o) for o in gc.get_objects()}
assert id(made_at_start) in tracked
settle_worker()
after = {id(o) for o in gc.get_objects()}
assert id(made_at_start) not in after, "a full pass still walks what lives all along"
assert gc.get_freeze_count() >= len(tracked) // 2
made_later = []  # what requests make is still collected
assert id(made_later) in {id(o) for o in gc.get_objects()}
print("ok")
"""


def test_what_a_worker_built_before_serving_is_left_out_of_full_collections():
    finished = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "ok"
