"""Install hpcfault: `pip install -e .` (see README for the CPU and cluster recipes)."""
from setuptools import find_packages, setup

setup(
    name="hpcfault",
    version="0.1.0",
    description="HPC batch system for 3D seismic fault segmentation (Fault-Net, MPI block inference, Slurm)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["hpcfault", "hpcfault.*"]),
    # flat layout declared as such: `pip install -e .` then puts the checkout on sys.path with a .pth
    # file (as `setup.py develop` did) and setuptools has no editable-mode warning to print
    package_dir={"": "."},
    package_data={"hpcfault": ["assets/*.pt", "assets/*.json"]},
    install_requires=[
        # torch is pinned by requirements-cpu.txt on CPU machines; clusters install their CUDA build first.
        # 2.3: torch.amp.GradScaler(device, ...); keep equal to hpcfault.requirements.TORCH_MIN
        "torch>=2.3",
        "numpy>=1.24",
        "h5py>=3.8",
        "segyio>=1.9",
        "mpi4py>=3.1",
        "submitit>=1.5",
        "pyyaml>=6.0",
        "scipy>=1.10",
        "tqdm>=4.60",
        "matplotlib>=3.6",
    ],
    extras_require={"test": ["pytest>=7", "pytest-timeout>=2"]},
    entry_points={"console_scripts": ["hpcfault=hpcfault.cli:main"]},
)
