"""Wall-clock time and peak resident memory of a block of code."""

import os
import resource
import threading
import time
from contextlib import contextmanager

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes():
    """Resident set size of this process now, in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class Measurement:
    """Result of :func:`measure`: ``seconds`` and ``peak_mb`` (peak RSS above the start)."""

    seconds = float("nan")
    peak_mb = float("nan")


@contextmanager
def measure(interval=0.005):
    """Time a block and sample its resident memory every ``interval`` seconds.

    ``peak_mb`` is the largest resident set size seen during the block minus the size at its
    start, in MiB: what the block needed on top of what the process already held. Where
    ``/proc`` is unavailable it falls back to the process's lifetime peak (``ru_maxrss``).
    """
    result = Measurement()
    start_rss = _rss_bytes()
    peak = [start_rss or 0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss = _rss_bytes()
            if rss is not None and rss > peak[0]:
                peak[0] = rss
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
        end = _rss_bytes()
        if start_rss is None:
            result.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        else:
            result.peak_mb = (max(peak[0], end or 0) - start_rss) / 2**20
