import dataclasses

import pytest

from unet import ConvType, NormType, UNetConfig, UpsampleType, list_variants


def test_defaults_are_the_study_hourglass():
    cfg = UNetConfig()
    assert (cfg.conv, cfg.norm, cfg.upsample) == ("standard", "batch", "interpolate")
    assert cfg.encoder_channels == [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)]
    assert cfg.decoder_channels == [(1024, 512), (1024, 256), (512, 128), (256, 64), (128, 32)]
    assert cfg.out_channels == 35


def test_strings_and_enums_are_interchangeable():
    by_str = UNetConfig(conv="depthwise_separable", norm="group", upsample="transposed")
    by_enum = UNetConfig(
        conv=ConvType.DEPTHWISE_SEPARABLE, norm=NormType.GROUP, upsample=UpsampleType.TRANSPOSED
    )
    assert by_str == by_enum
    assert isinstance(by_str.norm, NormType)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        UNetConfig().norm = "layer"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("param", "bad", "hint"),
    [
        ("norm", "btach", "did you mean 'batch'?"),
        ("conv", "depthwise", "did you mean 'depthwise_separable'?"),
        ("upsample", "transpose", "did you mean 'transposed'?"),
    ],
)
def test_unknown_choice_names_parameter_value_hint_and_choices(param, bad, hint):
    with pytest.raises(ValueError, match="Unsupported") as err:
        UNetConfig(**{param: bad})
    msg = str(err.value)
    assert f"Unsupported {param} '{bad}'" in msg
    assert hint in msg
    valid = sorted({"norm": NormType, "conv": ConvType, "upsample": UpsampleType}[param])
    assert "Valid: " + ", ".join(valid) in msg


def test_exact_message_for_a_norm_typo():
    with pytest.raises(ValueError) as err:
        UNetConfig(norm="btach")
    assert str(err.value) == (
        "Unsupported norm 'btach'; did you mean 'batch'? Valid: batch, group, instance, layer"
    )


def test_far_miss_has_no_hint():
    with pytest.raises(ValueError) as err:
        UNetConfig(norm="zzz")
    assert "did you mean" not in str(err.value)
    assert "Valid: batch, group, instance, layer" in str(err.value)


def test_wrong_type_for_a_choice_is_a_type_error():
    with pytest.raises(TypeError, match=r"conv must be a str or ConvType, got int 1"):
        UNetConfig(conv=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "param", ["block_expansion", "in_channels", "num_blocks", "max_features", "input_size"]
)
@pytest.mark.parametrize(
    ("bad", "exc"), [(0, ValueError), (-4, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_sizes_must_be_positive_ints(param, bad, exc):
    with pytest.raises(exc, match=rf"{param} must be a positive int, got .*{bad!r}"):
        UNetConfig(**{param: bad})


def test_input_size_not_divisible_says_which_sizes_work():
    with pytest.raises(ValueError) as err:
        UNetConfig(input_size=100)
    msg = str(err.value)
    assert "input_size 100" in msg
    assert "2**num_blocks = 32" in msg
    assert "96, 128" in msg


def test_group_count_must_divide_every_normalised_channel_count():
    with pytest.raises(ValueError) as err:
        UNetConfig(norm="group", group_count=48)
    msg = str(err.value)
    assert "group_count 48" in msg
    assert "32" in msg.split("valid group counts:")[1]  # gcd of 32..1024 is 32
    assert "valid group counts: 1, 2, 4, 8, 16, 32" in msg


def test_group_count_type_and_sign_are_checked():
    with pytest.raises(ValueError, match="group_count must be a positive int"):
        UNetConfig(norm="group", group_count=0)
    with pytest.raises(TypeError, match="group_count must be a positive int"):
        UNetConfig(norm="group", group_count="8")  # type: ignore[arg-type]


def test_default_groups_need_even_channels():
    with pytest.raises(ValueError, match=r"needs even channel counts.*\[3\]"):
        UNetConfig(norm="group", block_expansion=3)


def test_group_count_is_ignored_by_other_norms():
    # list_variants passes one group_count to every norm
    assert UNetConfig(norm="batch", group_count=8).group_count == 8


def test_list_variants_is_the_full_cross_product_in_a_fixed_order():
    variants = list_variants()
    ids = [v.variant_id for v in variants]
    assert len(ids) == len(set(ids)) == 16
    assert {(v.conv, v.norm, v.upsample) for v in variants} == {
        (c, n, u) for c in ConvType for n in NormType for u in UpsampleType
    }
    assert ids[0] == "conv=standard-norm=batch-up=interpolate"
    assert ids == [v.variant_id for v in list_variants()]


def test_list_variants_applies_overrides_and_rejects_choices():
    assert {v.input_size for v in list_variants(input_size=128)} == {128}
    with pytest.raises(TypeError, match="varies 'norm' itself"):
        list_variants(norm="batch")
