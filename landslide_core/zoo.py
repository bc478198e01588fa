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
    #: training-free: spectral indices and slope (landslide_core.spectral_index); not trainable
    "spectral_index": (_spectral_index, 1),
}
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


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= 1e6


def _spectral_index_options() -> dict[str, tuple[Callable[[Any], bool], str]]:
    from .spectral_index import DEFAULTS

    return {name: (_finite, f"a finite number (default {default:g})") for name, default in DEFAULTS.items()}


ARCH_OPTIONS["spectral_index"] = _spectral_index_options()


def check_arch_options(arch: str, in_channels: int, kwargs: Any) -> int:
    """Check architecture options without building anything; return the parameter count when
    it is known by arithmetic (else 0). Raises InputError (what was wrong, what to do)."""
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
    if arch == "unet_vanilla":
        n = vanilla_unet_parameters(in_channels, kwargs.get("base_channels", 64))
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


def build_model(arch: str, in_channels: int, **kwargs) -> nn.Module:
    """Build architecture ``arch`` for ``in_channels`` bands, randomly initialised, offline.

    ``kwargs`` go to the architecture (e.g. ``base_channels`` for ``unet_vanilla``); they are
    checked first (:func:`check_arch_options`).
    """
    check_arch_options(arch, in_channels, kwargs)
    builder, multiple = ARCHITECTURES[arch]
    return PadToMultiple(builder(in_channels=in_channels, classes=1, **kwargs), multiple)
