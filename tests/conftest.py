import pytest

from unet import UNetConfig


@pytest.fixture
def tiny() -> UNetConfig:
    """A narrow hourglass with the study's wiring: fast enough to run every variant on CPU."""
    return UNetConfig(block_expansion=4, max_features=32, input_size=32)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` need a GPU: skipped, with the reason, where there is none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is available")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
