"""hpcfault: 3D seismic fault segmentation at survey scale on Slurm GPU clusters.

Importing the package is cheap on purpose: torch, mpi4py and submitit are imported only by the
modules that need them, so `hpcfault --help` and job builders start instantly on a login node.
"""

__version__ = "0.1.0"

from hpcfault.errors import HpcfaultError  # noqa: E402  (cheap: no third-party imports)

__all__ = ["HpcfaultError", "__version__"]
