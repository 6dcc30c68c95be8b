"""How a casetrail process's cyclic garbage collector runs (docs/PERFORMANCE.md, B8)."""

from __future__ import annotations

import gc


def settle(young: int) -> None:
    """Once a process has started (its imports, application and routes, which live as
    long as it does): those are moved out of the collector's sight (`gc.freeze`), and
    the youngest generation is collected every `young` allocations rather than
    Python's 700. Replaying, exporting or verifying a long case allocates hundreds of
    thousands of short-lived objects, and every full collection walked the whole heap
    again (a 10,000-event export spent a third of its time collecting). Only cycles
    wait longer to be freed; nothing here holds many."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
