"""The cluster boundary: rank environment, MPI, Slurm job text and submitit launches.

This package is the only place that imports mpi4py or submitit.
"""
