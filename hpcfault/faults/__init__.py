"""From fault probability to fault objects an interpreter can use (`hpcfault faults`).

    orientation.py  structure tensor -> fault normals; normal <-> dip / strike; grid -> north
    thin.py         smoothing, non-maximum suppression along the normal, hysteresis seeds
    link.py         orientation-compatible neighbours, local components, union-find
    slab.py         one inline slab: probability -> ridge voxels, their components, border pairs
    plan.py         slab plan for a memory budget (pure)
    table.py        per-fault statistics (mergeable sums) and the CSV / JSON table
    sticks.py       fault sticks: a fault object cut by every k-th inline (or crossline)
    formats.py      OpendTect FaultStickSet ASCII, Charisma fault sticks, point CSV: writers and readers
    driver.py       the survey: slabs over MPI ranks, global ids, the output folder
    truth.py        comparison with a synthetic survey's known faults
    picture.py      slices with each fault object in its own colour

Nothing here is imported by `import hpcfault`.
"""
