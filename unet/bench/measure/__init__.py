"""Measuring one case in this process: the runner's stages (``runner``), CUDA-correct timing
(``timing``), exact counters (``counters``), profiles (``profile``), torch.compile (``compiled``),
GPU telemetry (``telemetry``), numerics (``precision``), the hardware key (``hardware``), what is
kept for later (``kept``) and the worker's side of the A/B turn-taking (``turns``)."""
