import pytest

from unet import UNetConfig


@pytest.fixture
def tiny() -> UNetConfig:
    """A narrow hourglass with the study's wiring: fast enough to run every variant on CPU."""
    return UNetConfig(block_expansion=4, max_features=32, input_size=32)
