"""A training-free landslide detector from spectral indices and slope (in the manner of HazMapper).

Fresh landslide scars are bare ground on slopes: little vegetation (low NDVI), brighter than
the vegetation around them in the red band, on slopes, and neither water nor cloud. This
module scores each pixel by the weakest of those five tests, as a logit, so it is a "model"
like any other (an ``nn.Module`` in the zoo, with a card and a ``.safetensors`` file holding
its thresholds): the predictor, the CLI (``--model index``), the dashboard and the benches use
it unchanged. For pairs, the change module adds the other half of HazMapper's idea: the
relative NDVI drop between the dates against the surroundings (:mod:`landslide_core.change`).

Each test is a margin in its own unit divided by a softness, so the logit is about 0 at a
threshold and grows by 1 per softness beyond it:

- bare: ``(ndvi_max - NDVI) / 0.05``
- bright: ``(ln B4 - ln red_min_dn) / 0.1``
- slope: ``(slope - slope_min_deg) / 3``
- not water: ``(ndwi_max - NDWI) / 0.05`` with NDWI = (B3 - B8) / (B3 + B8)
- not cloud: ``(ln blue_max_dn - ln B2) / 0.1`` (thick clouds are brighter in the blue than any
  ground)
"""
from __future__ import annotations

import torch
from torch import nn

from .bands import ALL_BANDS, L4S_SCALE

#: Defaults (see the card ``models/index.json`` for how they score).
DEFAULTS = {
    "ndvi_max": 0.32,        # bare ground: vegetation is above ~0.45 in these regions
    "red_min_dn": 650.0,     # TOA B4 of bare soil and rock; forest and crops are darker in the red
    "slope_min_deg": 8.0,    # the object rules judge the object's mean slope; this drops flat pixels
    "ndwi_max": 0.05,        # water has NDWI > 0
    "blue_max_dn": 3500.0,   # thick cloud
}
_SOFTNESS = {"ndvi": 0.05, "red": 0.1, "slope": 3.0, "ndwi": 0.05, "blue": 0.1}
_GAIN = 2.0


class SpectralIndexDetector(nn.Module):
    """Per-pixel landslide logit from L4S-unit bands (B2, B3, B4, B8 and slope of the 14)."""

    def __init__(self, in_channels: int = len(ALL_BANDS), classes: int = 1, **thresholds: float):
        super().__init__()
        if in_channels != len(ALL_BANDS) or classes != 1:
            raise ValueError(f"the spectral index reads the {len(ALL_BANDS)} contract bands and gives one logit")
        values = {**DEFAULTS, **{k: float(v) for k, v in thresholds.items()}}
        unknown = set(values) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown spectral index settings: {sorted(unknown)}")
        self.register_buffer("l4s_scale", torch.tensor(L4S_SCALE, dtype=torch.float32).view(1, -1, 1, 1))
        for name, value in values.items():
            self.register_buffer(name, torch.tensor(float(value), dtype=torch.float32))
        self._idx = {b: ALL_BANDS.index(b) for b in ("B2", "B3", "B4", "B8", "slope")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = x.float() * self.l4s_scale
        b2, b3, b4, b8, slope = (raw[:, self._idx[b]:self._idx[b] + 1] for b in ("B2", "B3", "B4", "B8", "slope"))
        eps = 1e-3
        ndvi = (b8 - b4) / (b8 + b4 + eps)
        ndwi = (b3 - b8) / (b3 + b8 + eps)
        bare = (self.ndvi_max - ndvi) / _SOFTNESS["ndvi"]
        bright = (torch.log(b4.clamp_min(1.0)) - torch.log(self.red_min_dn)) / _SOFTNESS["red"]
        steep = (slope - self.slope_min_deg) / _SOFTNESS["slope"]
        dry = (self.ndwi_max - ndwi) / _SOFTNESS["ndwi"]
        clear = (torch.log(self.blue_max_dn) - torch.log(b2.clamp_min(1.0))) / _SOFTNESS["blue"]
        tests = torch.cat([bare, bright, steep, dry, clear], dim=1)
        return _GAIN * tests.amin(dim=1, keepdim=True)


__all__ = ["SpectralIndexDetector", "DEFAULTS"]
