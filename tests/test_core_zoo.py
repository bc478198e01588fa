"""The model zoo: every architecture builds offline and runs on 14 and on 6 bands."""
from __future__ import annotations

import pytest
import torch

from landslide_core.errors import InputError
from landslide_core.bands import ALL_BANDS, BAND_SETS
from landslide_core.zoo import ARCHITECTURES, TRAINABLE, build_model

TINY = {"unet_vanilla": {"base_channels": 4}, "unet_vanilla_indices": {"base_channels": 4}}


@pytest.mark.parametrize("arch", sorted(TRAINABLE))
@pytest.mark.parametrize("bands", [14, 6])
def test_every_architecture_builds_and_runs(arch, bands):
    torch.manual_seed(0)
    names = ALL_BANDS if bands == 14 else BAND_SETS["thesis6"]
    model = build_model(arch, bands, names, **TINY.get(arch, {})).eval()
    with torch.inference_mode():
        for h, w in [(64, 64), (40, 72)]:  # a multiple of the stride, and not one
            out = model(torch.randn(2, bands, h, w))
            assert out.shape == (2, 1, h, w)
            assert torch.isfinite(out).all()


def test_vanilla_unet_has_five_levels_with_max_pooling_and_doubling_widths():
    model = build_model("unet_vanilla", 14, base_channels=8)
    net = model.net
    assert len(net.encoders) == 5
    widths = [enc[0].out_channels for enc in net.encoders]
    assert widths == [8, 16, 32, 64, 128]
    assert model.multiple == 16


def test_unknown_architecture_and_no_bands_refused():
    with pytest.raises(InputError, match="Unknown architecture"):
        build_model("unet_nope", 14)
    with pytest.raises(InputError):
        build_model("unet_vanilla", 0)


def test_index_features_are_invariant_to_shading():
    """The indices the model adds do not change when the sun and slope scale every band alike."""
    from landslide_core.zoo import WithIndices

    torch.manual_seed(0)
    model = build_model("unet_vanilla_indices", 14, ALL_BANDS, base_channels=4).eval()
    inner: WithIndices = model.net
    assert inner.index_names == ["ndvi", "ndwi", "ndmi", "swir_ratio", "green_red"]
    seen = []
    inner.net.register_forward_hook(lambda m, args, out: seen.append(args[0][:, 14:].clone()))
    x = torch.rand(1, 14, 32, 32) + 0.5
    with torch.inference_mode():
        model(x)
        model(x * 0.6)  # a shaded slope
    assert torch.allclose(seen[0], seen[1], atol=1e-4)
    with pytest.raises(InputError, match="names of its input bands"):
        build_model("unet_vanilla_indices", 14)
