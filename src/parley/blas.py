"""numpy's BLAS threads: one per product, for every process that serves or reasons.

OpenBLAS splits each matrix product over every core and then spins its threads waiting for
more. On a small machine shared with the embedder and SQLite that costs more CPU than it saves
time: about 40 -> 75 ms of CPU per search at 100k messages on 2 cores, and 6 -> 21 ms per
near-duplicate check of a 50-fact batch against 2,500 stored facts. Products run side by side
in the requests and worker slots instead.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_blas_thread() -> None:
    """Limit BLAS to one thread for the rest of the process's life."""
    threadpool_limits(limits=1, user_api="blas")
