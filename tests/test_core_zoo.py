"""The model zoo: every architecture builds offline and runs on 14 and on 6 bands."""
from __future__ import annotations

import pytest
import torch

from landslide_core.errors import InputError
from landslide_core.zoo import ARCHITECTURES, TRAINABLE, build_model

TINY = {"unet_vanilla": {"base_channels": 4}}


@pytest.mark.parametrize("arch", sorted(TRAINABLE))
@pytest.mark.parametrize("bands", [14, 6])
def test_every_architecture_builds_and_runs(arch, bands):
    torch.manual_seed(0)
    model = build_model(arch, bands, **TINY.get(arch, {})).eval()
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
