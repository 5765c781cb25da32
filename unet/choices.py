"""The swappable layer choices, one lowercase string enum per choice, and their parsing.

Every public entry point accepts either the enum member or its string value; anything else is
rejected with a message that names the parameter, the bad value, a close match and the valid set.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import TypeVar


class ConvType(StrEnum):
    STANDARD = "standard"  # dense 3x3 conv
    DEPTHWISE_SEPARABLE = "depthwise_separable"  # depthwise 3x3 (groups=in) then pointwise 1x1


class NormType(StrEnum):
    BATCH = "batch"
    LAYER = "layer"  # all features of each example
    INSTANCE = "instance"
    GROUP = "group"  # num_channels // 2 groups unless a count is given


class UpsampleType(StrEnum):
    INTERPOLATE = "interpolate"  # nearest x2, then the block's conv
    TRANSPOSED = "transposed"  # ConvTranspose2d(k=3, s=2, p=1, output_padding=1)


E = TypeVar("E", bound=StrEnum)


def unsupported(param: str, value: object, choices: list[str]) -> str:
    """Error text, e.g. Unsupported norm 'btach'; did you mean 'batch'? Valid: batch, ..."""
    close = difflib.get_close_matches(str(value).lower(), choices, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return f"Unsupported {param} {value!r}{hint} Valid: {', '.join(choices)}"


def parse_choice(enum_cls: type[E], value: object, param: str) -> E:
    """Return ``value`` as a member of ``enum_cls``; ``param`` names it in the error message."""
    if isinstance(value, enum_cls):
        return value
    valid = sorted(m.value for m in enum_cls)
    if not isinstance(value, str):
        raise TypeError(
            f"{param} must be a str or {enum_cls.__name__}, got {type(value).__name__} "
            f"{value!r}. Valid: {', '.join(valid)}"
        )
    try:
        return enum_cls(value)
    except ValueError:
        raise ValueError(unsupported(param, value, valid)) from None
