"""The model zoo: every architecture by name, built without any download.

All models map (N, bands, H, W) in L4S units to (N, 1, H, W) landslide logits, for any
number of input bands, and are fully convolutional (any H, W; sizes that are not a multiple
of the network's stride are padded internally and cropped back).

Architecture options (``arch_kwargs``, from a model card or the Training page) are checked
before anything is built (:func:`check_arch_options`): only the options an architecture
takes, each within bounds, and a parameter count worked out by arithmetic under
:data:`MAX_PARAMETERS`, so a card or a form asking for a 10 GB network is refused at once
instead of being built in the server process.
"""
from __future__ import annotations

import math
from typing import Any, Callable

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
    #: a U-Net whose encoder is SegFormer's Mix Transformer B1: the thesis's "Segformer" row of
    #: Tables 5-7 (a U-Net encoder of ~16.4 M parameters; this one has 16.4 M with 14 bands)
    "unet_mit_b1": (_smp_unet("mit_b1"), 32),
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


#: The largest network any architecture option may ask for (parameters; 4 bytes each in
#: float32, ~4x that while training with Adam). The thesis's vanilla U-Net has 31 M.
MAX_PARAMETERS = 130_000_000
#: Most input bands a model may take.
MAX_IN_CHANNELS = 64


def vanilla_unet_parameters(in_channels: int, base_channels: int = 64, classes: int = 1) -> int:
    """Parameter count of :class:`VanillaUNet`, by arithmetic (nothing is built)."""
    def double_conv(ci: int, co: int) -> int:
        return 9 * ci * co + 9 * co * co + 4 * co  # two 3x3 convs without bias, two batch norms

    widths = [base_channels * 2 ** i for i in range(VanillaUNet.levels)]
    total, c_prev = 0, in_channels
    for w in widths:
        total += double_conv(c_prev, w)
        c_prev = w
    for w in reversed(widths[:-1]):
        total += (2 * w) * w * 4 + w + double_conv(2 * w, w)  # transposed 2x2 conv, decoder
    return total + widths[0] * classes + classes


def _whole(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _channels_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and 1 <= len(v) <= 5 and all(_whole(1, 1024)(c) for c in v)


#: arch -> {option: (check, what it must be)}. Architectures not listed take no options.
ARCH_OPTIONS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "unet_vanilla": {"base_channels": (_whole(1, 128), "a whole number from 1 to 128 (the thesis uses 64)")},
    "unet_resnet34": {
        "encoder_depth": (_whole(3, 5), "a whole number from 3 to 5"),
        "decoder_channels": (_channels_list, "a list of one whole number (1-1024) per encoder level"),
        "decoder_attention_type": (lambda v: v in (None, "scse"), 'null or "scse"'),
    },
    "segformer_mit_b0": {
        "encoder_depth": (_whole(3, 5), "a whole number from 3 to 5"),
        "decoder_segmentation_channels": (_whole(1, 1024), "a whole number from 1 to 1024"),
    },
}
ARCH_OPTIONS["unet_mobilenet_v2"] = ARCH_OPTIONS["unet_resnet34"]
ARCH_OPTIONS["unet_mit_b1"] = ARCH_OPTIONS["unet_resnet34"]


def _band_list(v: Any) -> bool:
    from .bands import ALL_BANDS

    return (isinstance(v, (list, tuple)) and 1 <= len(v) <= MAX_IN_CHANNELS and len(set(v)) == len(v)
            and all(isinstance(b, str) and b in ALL_BANDS for b in v))


ARCH_OPTIONS["unet_vanilla_indices"] = {**ARCH_OPTIONS["unet_vanilla"],
                                        "bands": (_band_list, "a list of the input band names")}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= 1e6


def _spectral_index_options() -> dict[str, tuple[Callable[[Any], bool], str]]:
    from .spectral_index import DEFAULTS

    return {name: (_finite, f"a finite number (default {default:g})") for name, default in DEFAULTS.items()}


ARCH_OPTIONS["spectral_index"] = _spectral_index_options()


def check_arch_options(arch: str, in_channels: int, kwargs: Any,
                       band_names: list[str] | tuple[str, ...] | None = None) -> int:
    """Check architecture options without building anything; return the parameter count when
    it is known by arithmetic (else 0). Raises InputError (what was wrong, what to do).
    ``band_names``: the input bands, for architectures that compute indices from them."""
    if arch not in ARCHITECTURES:
        raise InputError(f"Unknown architecture '{arch}'.", f"Choose one of: {', '.join(ARCHITECTURES)}.")
    if not _whole(1, MAX_IN_CHANNELS)(in_channels):
        raise InputError(f"A model takes 1 to {MAX_IN_CHANNELS} input bands, not {in_channels}.")
    if not isinstance(kwargs, dict):
        raise InputError(f"The architecture options must be a JSON object, not {type(kwargs).__name__}.",
                         'Write them as {"base_channels": 16}.')
    allowed = ARCH_OPTIONS.get(arch, {})
    unknown = sorted(str(k) for k in kwargs if k not in allowed)
    if unknown:
        takes = f"it takes: {', '.join(allowed)}" if allowed else "it takes none"
        raise InputError(f"The architecture {arch} does not accept the options {', '.join(repr(k) for k in unknown)}.",
                         f"Remove it ({takes}).")
    for name, value in kwargs.items():
        ok, want = allowed[name]
        if not ok(value):
            raise InputError(f"The option {name}={json_text(value)} of {arch} is not usable.", f"Use {want}.")
    depth = kwargs.get("encoder_depth", 5)
    if "decoder_channels" in kwargs and len(kwargs["decoder_channels"]) != depth:
        raise InputError(f"decoder_channels has {len(kwargs['decoder_channels'])} numbers but the encoder has "
                         f"{depth} levels.", "Give one number per encoder level.")
    if arch in ("unet_vanilla", "unet_vanilla_indices"):
        extra = 0
        if arch == "unet_vanilla_indices":
            bands = list(band_names) if band_names is not None else list(kwargs.get("bands") or [])
            if len(bands) != in_channels:
                raise InputError(f"{arch} needs the names of its input bands ({in_channels} channels, "
                                 f"{len(bands)} names given).",
                                 "Give them in the card's bands (or the arch option 'bands').")
            extra = sum(1 for a, b in INDEX_PAIRS.values() if a in bands and b in bands)
        n = vanilla_unet_parameters(in_channels + extra, kwargs.get("base_channels", 64))
        if n > MAX_PARAMETERS:
            raise InputError(f"These options make a network of {n / 1e6:,.0f} M parameters, more than the limit of "
                             f"{MAX_PARAMETERS / 1e6:,.0f} M.", "Use fewer base channels (the thesis uses 64).")
        return n
    return 0


def json_text(value: Any, limit: int = 60) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def build_model(arch: str, in_channels: int, band_names: list[str] | tuple[str, ...] | None = None,
                **kwargs) -> nn.Module:
    """Build architecture ``arch`` for ``in_channels`` bands, randomly initialised, offline.

    ``kwargs`` go to the architecture (e.g. ``base_channels`` for ``unet_vanilla``).
    ``band_names``: the input bands in order, for architectures that compute indices from them.
    The options are checked first, without building anything (:func:`check_arch_options`).
    """
    check_arch_options(arch, in_channels, kwargs, band_names)
    builder, multiple = ARCHITECTURES[arch]
    if arch in NEEDS_BAND_NAMES:
        kwargs["bands"] = list(band_names) if band_names is not None else kwargs.get("bands")
    return PadToMultiple(builder(in_channels=in_channels, classes=1, **kwargs), multiple)
