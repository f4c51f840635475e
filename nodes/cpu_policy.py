"""How a node's threads take turns on the cores with its signing workers and everything else.

A node's own threads (gRPC's, the courier's, the event store's) wake thousands of times a second,
each for a short errand: a message arrived, a commit returned, the interpreter lock came free.
Under Linux's default policy each such wake-up may preempt whatever runs on that core, most often
a signing worker in the middle of a seal, which then finds its caches cold. Under SCHED_BATCH the
node's threads do not preempt on waking: they run when the running task blocks or its turn ends
(a slice of a millisecond or two). Measured under the bench's load (docs/performance.md, twelfth
session): a seal preempted 8 times instead of 16, CPU per case −4%, cases per second +4%, and
latency down too, since less time goes to switching.

The signing workers keep the default policy: a seal or a verification a call waits on starts at
once. Nothing here changes priorities (no nice value, no real-time class): a batch thread gets
the same share of the cores, only fewer interruptions."""

from __future__ import annotations

import os

POLICIES = ("batch", "normal")


def apply_cpu_policy(policy: str) -> bool:
    """Put every thread of this process under `policy` ("batch" or "normal"); threads and
    processes started later inherit it. False where the platform has no such setting (not Linux)."""
    if policy not in POLICIES:
        raise ValueError(f"cpu_policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if not hasattr(os, "sched_setscheduler") or not os.path.isdir("/proc/self/task"):
        return False
    which = os.SCHED_BATCH if policy == "batch" else os.SCHED_OTHER
    for thread in os.listdir("/proc/self/task"):  # Linux sets the policy per thread
        try:
            os.sched_setscheduler(int(thread), which, os.sched_param(0))
        except ProcessLookupError:
            pass  # the thread ended meanwhile
    return True


def cpu_policy_of(pid: int) -> str:
    """The policy a thread or process runs under, as named here (or the kernel's number)."""
    which = os.sched_getscheduler(pid)
    return {os.SCHED_BATCH: "batch", os.SCHED_OTHER: "normal"}.get(which, str(which))
