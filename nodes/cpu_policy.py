"""How a node's threads take turns on the cores with its signing workers and everything else.

A node's own threads (gRPC's, the courier's, the event store's) wake thousands of times a second,
each for a short errand: a message arrived, a commit returned, the interpreter lock came free.
Under Linux's default policy each such wake-up may preempt whatever runs on that core, most often
a signing worker in the middle of a seal, which then finds its caches cold. Under SCHED_BATCH the
node's threads do not preempt on waking: they run when the running task blocks or its turn ends
(at the latest at the next scheduler tick, 4 ms at HZ=250). Measured under the bench's load
(docs/performance-history.md, twelfth session): a seal preempted 8 times instead of 16, CPU per case −4%,
cases per second +4%, and a whole case's p95 and p99 latency lower in every pair of runs.

The signing workers are put back under the default policy: a seal or a verification a call waits
on starts at once. Nothing here changes priorities (no nice value, no real-time class): a batch
thread gets the same share of the cores, only fewer interruptions. A policy an operator chose
(real-time, idle) is left alone, and a platform or a sandbox that refuses the change leaves the
node as it was, with a warning: the setting is about speed, not correctness."""

from __future__ import annotations

import logging
import os

POLICIES = ("batch", "normal")

log = logging.getLogger(__name__)


def check_cpu_policy(value: object, *, setting: str = "cpu_policy") -> str:
    """`value` if it names a policy here, else ValueError naming `setting` and the choices."""
    if value not in POLICIES:
        raise ValueError(f"{setting} must be one of {', '.join(repr(p) for p in POLICIES)}, got {value!r}")
    return str(value)


def apply_cpu_policy(policy: str) -> bool:
    """Put every thread of this process that runs under Linux's default or batch policy under
    `policy` ("batch" or "normal"); threads and processes started later inherit it. False where
    nothing was changed: not Linux, or the change was refused (logged)."""
    check_cpu_policy(policy)
    if not hasattr(os, "SCHED_BATCH") or not os.path.isdir("/proc/self/task"):
        return False
    wanted = os.SCHED_BATCH if policy == "batch" else os.SCHED_OTHER
    for thread in map(int, os.listdir("/proc/self/task")):  # Linux sets the policy per thread
        try:
            if _policy_number(thread) in (os.SCHED_OTHER, os.SCHED_BATCH):
                os.sched_setscheduler(thread, wanted, os.sched_param(0))
        except ProcessLookupError:
            pass  # the thread ended meanwhile
        except PermissionError as exc:
            log.warning("cpu_policy %r not applied (%s); the node runs under %s as it was started",
                        policy, exc.strerror, cpu_policy_of(thread))
            return False
    return True


def cpu_policy_of(pid: int) -> str:
    """The policy a thread or process runs under, as named here (or the kernel's number)."""
    which = _policy_number(pid)
    return {os.SCHED_BATCH: "batch", os.SCHED_OTHER: "normal"}.get(which, str(which))


def _policy_number(pid: int) -> int:
    return os.sched_getscheduler(pid) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
