"""Per-rank HDF5 shard files holding each finished block's prediction.

Works with the ordinary (serial) h5py wheels: every rank writes only its own file,
`shards/<attempt>-r<rank>.h5`, one float32 dataset per block named by the block id, of shape
(K, T, I, X): the task's K outputs over the block's read region (padding cropped). After each block the file is flushed, and only then is the
block recorded in the ledger, so a `kill -9` leaves every ledgered block readable (a crashed
attempt's shards are checked against the ledger's CRCs before they are trusted, see ledger.py).
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from hpcfault.errors import HpcfaultError

SHARD_FORMAT = "hpcfault-shard/2"     # /2: K outputs per block (K, T, I, X)


def crc32(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8)) & 0xFFFFFFFF


class ShardWriter:
    """Appends block predictions to one shard file (created on the first block)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f: Any = None

    def write(self, block_id: str, pred: np.ndarray) -> int:
        """Store `pred` under `block_id`, flush to disk and return its CRC32 for the ledger."""
        import h5py

        pred = np.ascontiguousarray(pred, dtype=np.float32)
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = h5py.File(self.path, "w")
            self._f.attrs["format"] = SHARD_FORMAT
        if block_id in self._f:  # the same block twice in one attempt cannot happen; be safe anyway
            del self._f[block_id]
        self._f.create_dataset(block_id, data=pred)
        self._f.flush()
        return crc32(pred)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ShardReader:
    """Reads blocks (or parts of them) from many shard files, keeping a few open."""

    def __init__(self, root: str | Path, max_open: int = 16) -> None:
        self.root = Path(root)
        self.max_open = max_open
        self._open: dict[str, Any] = {}

    def _file(self, shard: str) -> Any:
        import h5py

        f = self._open.pop(shard, None)
        if f is None:
            if len(self._open) >= self.max_open:
                oldest = next(iter(self._open))
                self._open.pop(oldest).close()
            try:
                f = h5py.File(self.root / shard, "r")
            except OSError as exc:
                raise HpcfaultError(f"shard file {self.root / shard} cannot be read ({exc}); rerun the same "
                                    "command to recompute its blocks, or --restart") from None
        self._open[shard] = f  # most recently used last
        return f

    def read(self, shard: str, block_id: str, region: tuple[slice, ...] | None = None) -> np.ndarray:
        """The block's (K, ...) outputs, over `region` (spatial slices relative to its read region)."""
        f = self._file(shard)
        if block_id not in f:
            raise HpcfaultError(f"block {block_id} is missing from shard {self.root / shard}; rerun the same "
                                "command to recompute it, or --restart")
        ds = f[block_id]
        return ds[(slice(None), *region)] if region is not None else ds[...]

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()

    def __enter__(self) -> "ShardReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
