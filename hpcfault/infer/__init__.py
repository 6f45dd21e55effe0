"""Block-wise inference of a whole survey: statistics -> plan -> predict -> merge.

    config.py    PredictConfig (frozen dataclass, `kind: predict` YAML) and the default model path
    plan.py      pure tiling: blocks with overlap, alignment, padding, ids (no MPI, no files)
    stats.py     stage 1, global normalization statistics reduced over ranks
    forward.py   device and threads per rank, the model with a rank-independent (deterministic) forward
    ledger.py    which blocks are done (per-rank append-only JSONL, fsync), the run fingerprint and key,
                 the CRC check of stored blocks
    resume.py    which blocks a rerun takes from the work dir (verified, shared among ranks) and which it computes
    shards.py    per-rank HDF5 shard files holding each block's prediction
    taper.py     smooth blending weights for overlapping blocks
    merge.py     stage 4, weighted blend of the shards into the output volume, by output tiles
    sizing.py    how big a block: model facts, memory budget, caps, the timed choice (autoblock.py)
    blocks.py    stage 3, the blocks computed with dynamic load balancing (the shared block counter
                 of hpcfault.cluster.counter), read ahead and written behind
    runner.py    the stages put together for one rank (what `hpcfault predict` runs)
    outputs.py   --segy-out and --png
    report.py    progress bar, dry-run text, summary JSON

Data flows one way: config -> plan -> read -> model -> shards/ledger -> merge -> output.
"""
