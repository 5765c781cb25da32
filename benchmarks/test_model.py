"""The model matrix: every conv x norm x upsample variant at each batch size, eval + no_grad;
and the capacity group: the separable model given its parameters back, beside the standard one."""

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


def test_capacity(run_case, capacity_case):
    torch.manual_seed(0)
    run_case(
        build_model(capacity_case.config),
        torch.randn(capacity_case.input_shape),
        capacity_case.info,
    )
