"""Parameters of fault extraction and the slab plan for a memory budget. Pure: integers in, ranges out.

The survey is processed in slabs of whole inlines. Each slab reads its core inlines plus a halo on
both sides, wide enough that every value computed for the core (smoothing, structure tensor,
non-maximum suppression, and the links from the core's last inline into the next slab's first) equals
the value a whole-survey computation gives, bit for bit. So the fault objects never depend on where
the survey was cut, and the slab plan depends only on the survey's shape and the memory budget,
never on the number of ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

from hpcfault.errors import HpcfaultError
from hpcfault.faults.orientation import radius
from hpcfault.io.slabs import format_size, plan_ranges

# float32 arrays of slab size alive at the peak of one slab: probability, smoothed probability,
# three gradients, one tensor product and its smoothed copy; plus the int32 voxel index of the
# linking step and byte masks. tools/bench_faults.py measures the real peak against this.
SLAB_BYTES_PER_VOXEL = 40
MODEL_BYTES_PER_VOXEL = 8          # the model's dip and strike slabs when the volume has them
ORIENTATIONS = ("auto", "tensor", "model")
JOIN_MIN_VOXELS = 20               # fragments smaller than this have no reliable plane and never join


@dataclass(frozen=True)
class FaultParams:
    """Every setting of `hpcfault faults` (defaults as the CLI's)."""

    smooth: float = 2.0            # sigma (voxels) of the smoothing before non-maximum suppression
    tensor: float = 2.0            # sigma (voxels) of the structure tensor's smoothing
    high: float = 0.7              # hysteresis: an object needs one voxel with probability >= high
    low: float = 0.3               # hysteresis: ridge voxels with probability >= low join objects
    angle: float = 15.0            # degrees: neighbours (and fragments) join when their normals agree this well
    planarity: float = 0.95        # voxels with a less planar structure tensor (where faults meet) link to none
    join_distance: float = 2.0     # voxels: fragments on one plane within this RMS distance join (0: never)
    min_area: float = 100.0        # voxels^2: smaller objects are dropped from the fault table
    stick_every: int = 4           # a stick on every k-th inline (or crossline)
    stick_step: int = 4            # samples between stick nodes
    orientation: str = "auto"      # auto: a model's dip/strike outputs when present, else tensor

    def __post_init__(self) -> None:
        checks = [
            (self.smooth >= 0 and self.smooth <= 16, "--smooth must be in 0..16 voxels", self.smooth),
            (self.tensor > 0 and self.tensor <= 16, "--tensor-sigma must be in (0, 16] voxels", self.tensor),
            (0 < self.low <= self.high <= 1, "thresholds must satisfy 0 < --low <= --high <= 1",
             f"--low {self.low} --high {self.high}"),
            (0 < self.angle < 90, "--angle must be in (0, 90) degrees", self.angle),
            (0 <= self.planarity < 1, "--planarity must be in [0, 1)", self.planarity),
            (self.join_distance >= 0, "--join-distance must be >= 0", self.join_distance),
            (self.min_area >= 0, "--min-area must be >= 0", self.min_area),
            (self.stick_every >= 1, "--stick-every must be >= 1", self.stick_every),
            (self.stick_step >= 1, "--stick-step must be >= 1", self.stick_step),
            (self.orientation in ORIENTATIONS, f"--orientation must be one of {', '.join(ORIENTATIONS)}",
             self.orientation),
        ]
        for ok, what, got in checks:
            if not ok:
                raise HpcfaultError(f"{what} (got {got}); see 'hpcfault faults --help'")

    @property
    def join(self) -> tuple[float, float, int] | None:
        """(angle, distance, minimum voxels) for planes.coplanar_groups, None when off."""
        if self.join_distance <= 0:
            return None
        return (self.angle, self.join_distance, JOIN_MIN_VOXELS)

    @property
    def halo(self) -> int:
        """Inlines read beyond a slab's core on each side (see the module doc)."""
        return radius(self.smooth) + radius(self.tensor) + 2


@dataclass(frozen=True)
class SlabPlan:
    """Core inline ranges [a, b) and the halo; slab k reads [max(0, a - halo), min(I, b + halo))."""

    shape: tuple[int, int, int]
    halo: int
    ranges: tuple[tuple[int, int], ...]

    def read_range(self, k: int) -> tuple[int, int]:
        a, b = self.ranges[k]
        return max(0, a - self.halo), min(self.shape[1], b + self.halo)

    @property
    def core(self) -> int:
        return self.ranges[0][1] - self.ranges[0][0]


def slab_bytes(shape: tuple[int, int, int], inlines: int, with_model: bool) -> int:
    t, _, x = shape
    per = SLAB_BYTES_PER_VOXEL + (MODEL_BYTES_PER_VOXEL if with_model else 0)
    return t * inlines * x * per


def plan_slabs(shape: tuple[int, int, int], halo: int, budget: int, with_model: bool = False,
               max_core: int | None = None) -> SlabPlan:
    """The largest core (inlines) whose slab with halo fits `budget` bytes; `max_core` caps it."""
    t, ni, x = shape
    per_inline = slab_bytes(shape, 1, with_model)
    fit = budget // per_inline - 2 * halo
    if fit < 1:
        need = per_inline * (1 + 2 * halo)
        raise HpcfaultError(
            f"memory budget too small for this survey (got {format_size(budget)}); one inline of {t} x {x} samples "
            f"with its {halo}-inline halo on each side needs {format_size(need)}: pass --memory {-(-need * 2 // 2**20)}MiB "
            "or more, or smaller --smooth/--tensor-sigma (a smaller halo)")
    core = min(int(fit), ni, max_core or ni)
    return SlabPlan(shape=(t, ni, x), halo=halo, ranges=tuple(plan_ranges(ni, core)))
