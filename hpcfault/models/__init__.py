"""Models: Fault-Net (loads the published weights), its no-MCF ablation and the UNet3D baseline.

    from hpcfault.models import load_model, prepare_for_inference
    model = prepare_for_inference(load_model("faultnet-g07.pt"))
    with torch.inference_mode():
        prob = model(x)          # x: (N, 1, T, I, X) in [0, 1], sizes multiples of 16
        prob = model(x, frame)   # x is a block of a survey: resample on the survey's grid (frame.py)

Importing this package imports torch; `import hpcfault` alone does not.
"""
from hpcfault.models.checkpoint import FORMAT, load_model, model_from_checkpoint, read_checkpoint, save_checkpoint
from hpcfault.models.faultnet import SIZE_MULTIPLE, FaultNet, check_input
from hpcfault.models.fuse import fold_all_bn, prepare_for_inference
from hpcfault.models.frame import Frame
from hpcfault.models.memory import bytes_per_voxel, largest_block, peak_bytes
from hpcfault.models.registry import MODELS, build_model, count_parameters, model_config_of, model_name_of
from hpcfault.models.unet3d import UNet3D

__all__ = [
    "FORMAT", "MODELS", "SIZE_MULTIPLE", "FaultNet", "Frame", "UNet3D", "build_model", "bytes_per_voxel", "check_input",
    "count_parameters", "fold_all_bn", "largest_block", "load_model", "model_config_of", "model_from_checkpoint",
    "model_name_of", "peak_bytes", "prepare_for_inference", "read_checkpoint", "save_checkpoint",
]
