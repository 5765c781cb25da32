"""The model matrix: every conv x norm x upsample variant at each batch size, eval + no_grad."""

import torch

from unet import build_model


def test_model(run_case, model_case):
    torch.manual_seed(0)
    cfg = model_case.config
    run_case(
        build_model(cfg),
        torch.randn(model_case.input_shape),
        {"conv": str(cfg.conv), "norm": str(cfg.norm), "upsample": str(cfg.upsample)},
    )
