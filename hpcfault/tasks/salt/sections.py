"""A 2D section model applied to a whole volume held in memory: every inline section and every
crossline section predicted whole, and their average - what `hpcfault predict --axes-2d
inline,xline` does block by block on any survey. For small volumes (tests, figures, validation);
the engine (hpcfault/infer/) is the way for surveys."""
from __future__ import annotations

import numpy as np

AXES = {"inline": 1, "xline": 2}


def predict_sections(model, seismic: np.ndarray, sections=("inline", "xline"), batch: int = 8) -> dict[str, np.ndarray]:
    """{direction: (T, I, X) probabilities of the first output, "average": their mean} for a
    volume `seismic` already scaled to [0, 1]; `model` in eval mode, on the device that computes."""
    from hpcfault.train.validate2d import predict_images

    device = next(model.parameters()).device   # where the model is (a GPU for the figures' scoring)
    out = {}
    for direction in sections:
        axis = AXES[direction]
        prob = predict_images(model, np.moveaxis(seismic, axis, 0), device, None, batch)
        out[direction] = np.moveaxis(prob, 0, axis)
    out["average"] = sum(out[d] for d in sections) / np.float32(len(sections))
    return out
