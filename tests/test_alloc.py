"""release_free_memory (hpcfault/infer/alloc.py) gives freed heap memory back to the OS."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import os
import numpy as np
from hpcfault.infer.alloc import release_free_memory

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

big = np.ones(2 ** 21)          # freeing a 16 MiB mmap raises glibc's mmap threshold to 16 MiB ...
del big
keep, drop = [], []
for i in range(400):            # ... so these 1 MiB arrays come from the heap, interleaved
    (keep if i % 2 else drop).append(np.ones(2 ** 17))
before = rss()
drop.clear()                    # 200 MiB of holes between live arrays: kept by malloc
freed = rss()
assert release_free_memory()
print(before >> 20, freed >> 20, rss() >> 20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or sys.platform != "linux", reason="glibc malloc_trim only")
def test_trim_returns_the_holes_of_a_fragmented_heap():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    before, freed, trimmed = (int(v) for v in out.split())
    assert freed > before - 50          # free() alone keeps the holes
    assert trimmed < freed - 150        # malloc_trim gives ~200 MiB back
