"""The model zoo: every architecture by name, built without any download.

All models map (N, bands, H, W) in L4S units to (N, 1, H, W) landslide logits, for any
number of input bands, and are fully convolutional (any H, W; sizes that are not a multiple
of the network's stride are padded internally and cropped back).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError


class _DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


class VanillaUNet(nn.Module):
    """The thesis's vanilla U-Net (Table 5): 5 encoder levels, max-pooling, direct skips.

    Channels double per level from ``base_channels`` (64 in the thesis: 64..1024). The decoder
    upsamples by transposed convolution and concatenates the encoder feature (direct skip).
    """

    levels = 5

    def __init__(self, in_channels: int, classes: int = 1, base_channels: int = 64):
        super().__init__()
        widths = [base_channels * 2 ** i for i in range(self.levels)]
        self.encoders = nn.ModuleList()
        c_prev = in_channels
        for w in widths:
            self.encoders.append(_DoubleConv(c_prev, w))
            c_prev = w
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(w * 2, w, 2, stride=2))
            self.decoders.append(_DoubleConv(w * 2, w))
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


#: Normalised differences (a - b) / (a + b) added by :class:`WithIndices`: vegetation (NDVI),
#: water (NDWI), moisture and bare ground (B8 vs B11, B11 vs B12).
INDEX_PAIRS: dict[str, tuple[str, str]] = {
    "ndvi": ("B8", "B4"),
    "ndwi": ("B3", "B8"),
    "ndmi": ("B8", "B11"),
    "swir_ratio": ("B11", "B12"),
    "green_red": ("B3", "B4"),
}


class WithIndices(nn.Module):
    """Adds normalised-difference indices of the input bands as extra channels before ``net``.

    A ratio of two bands does not change when both are multiplied by the same factor: the sun
    and slope shading (hillshade), a sensor gain or a season's brightness cancel out, which is
    what makes a landslide scar look the same on a shaded and on a sunlit slope. Computed in
    raw units (L4S units times the contract's scale), so the indices are the usual ones.
    """

    def __init__(self, net_builder: Callable[..., nn.Module], in_channels: int, bands: list[str],
                 classes: int = 1, **kwargs):
        super().__init__()
        from .bands import scale_vector

        bands = list(bands)
        if len(bands) != in_channels:
            raise InputError(f"WithIndices got {in_channels} input channels but {len(bands)} band names.")
        usable = {k: (a, b) for k, (a, b) in INDEX_PAIRS.items() if a in bands and b in bands}
        self.index_names = list(usable)
        self.register_buffer("scale", torch.tensor(scale_vector(bands)).view(1, -1, 1, 1), persistent=False)
        self._pairs = [(bands.index(a), bands.index(b)) for a, b in usable.values()]
        self.net = net_builder(in_channels=in_channels + len(self._pairs), classes=classes, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._pairs:
            return self.net(x)
        raw = x * self.scale
        idx = [(raw[:, a:a + 1] - raw[:, b:b + 1]) / (raw[:, a:a + 1] + raw[:, b:b + 1]).clamp_min(1.0)
               for a, b in self._pairs]
        return self.net(torch.cat([x, *idx], dim=1))


def _with_indices(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def build(in_channels: int, classes: int = 1, bands: list[str] | None = None, **kwargs) -> nn.Module:
        if not bands:
            raise InputError("This architecture needs the names of its input bands (arch option 'bands').")
        return WithIndices(builder, in_channels, bands, classes, **kwargs)
    return build


class PadToMultiple(nn.Module):
    """Pads the input (reflect) to a multiple of ``multiple`` and crops the output back."""

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net = net
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            mode = "reflect" if h > ph and w > pw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.net(x)[..., :h, :w]


def _smp_unet(encoder: str) -> Callable[..., nn.Module]:
    def build(in_channels: int, classes: int = 1, **kwargs) -> nn.Module:
        import segmentation_models_pytorch as smp

        return smp.Unet(encoder_name=encoder, encoder_weights=None, in_channels=in_channels,
                        classes=classes, **kwargs)
    return build


def _smp_segformer(in_channels: int, classes: int = 1, **kwargs) -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.Segformer(encoder_name="mit_b0", encoder_weights=None, in_channels=in_channels,
                         classes=classes, **kwargs)


def _spectral_index(in_channels: int, classes: int = 1, **kwargs) -> nn.Module:
    from .spectral_index import SpectralIndexDetector

    return SpectralIndexDetector(in_channels=in_channels, classes=classes, **kwargs)


#: name -> (builder, the input size multiple the network needs)
ARCHITECTURES: dict[str, tuple[Callable[..., nn.Module], int]] = {
    "unet_vanilla": (VanillaUNet, 16),
    "unet_resnet34": (_smp_unet("resnet34"), 32),
    "unet_mobilenet_v2": (_smp_unet("mobilenet_v2"), 32),
    "segformer_mit_b0": (_smp_segformer, 32),
    #: the vanilla U-Net fed with its bands plus their normalised-difference indices
    "unet_vanilla_indices": (_with_indices(VanillaUNet), 16),
    #: training-free: spectral indices and slope (landslide_core.spectral_index); not trainable
    "spectral_index": (_spectral_index, 1),
}
#: Architectures that need the names of their input bands (given by the card or the run).
NEEDS_BAND_NAMES = ("unet_vanilla_indices",)
#: Architectures with nothing to learn (the Training page and `train` leave them out).
TRAINING_FREE = ("spectral_index",)
#: Architectures a training run can use.
TRAINABLE: tuple[str, ...] = tuple(a for a in ARCHITECTURES if a not in TRAINING_FREE)


def build_model(arch: str, in_channels: int, band_names: list[str] | tuple[str, ...] | None = None,
                **kwargs) -> nn.Module:
    """Build architecture ``arch`` for ``in_channels`` bands, randomly initialised, offline.

    ``kwargs`` go to the architecture (e.g. ``base_channels`` for ``unet_vanilla``).
    ``band_names``: the input bands in order, for architectures that compute indices from them.
    """
    try:
        builder, multiple = ARCHITECTURES[arch]
    except KeyError:
        raise InputError(f"Unknown architecture '{arch}'.",
                         f"Choose one of: {', '.join(ARCHITECTURES)}.") from None
    if in_channels < 1:
        raise InputError(f"A model needs at least one input band, got {in_channels}.")
    if arch in NEEDS_BAND_NAMES:
        kwargs["bands"] = list(band_names) if band_names is not None else kwargs.get("bands")
    return PadToMultiple(builder(in_channels=in_channels, classes=1, **kwargs), multiple)
