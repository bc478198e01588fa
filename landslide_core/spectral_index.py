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
- not water: ``(ndwi_max - NDWI) / 0.05`` with NDWI = (B3 - B8) / (B3 + B8), unless the near
  infrared is bright (``(ln B8 - ln water_nir_max_dn) / 0.1``): water is dark there, white rock
  is not (its NDWI can be above 0 at the top of the atmosphere)
- not cloud: ``(ln aerosol_max_dn - ln B1) / 0.1`` (thick clouds are brighter in the aerosol
  band than any ground: even white rock stays near 3000 DN there, under ~1000 DN of path
  radiance, while the blue of bright white scars can reach clouds' values)
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
    "ndwi_max": 0.05,        # water has NDWI > 0 ...
    "water_nir_max_dn": 1500.0,  # ... and a dark near infrared
    "aerosol_max_dn": 4200.0,  # thick cloud (B1)
}
_SOFTNESS = {"ndvi": 0.05, "red": 0.1, "slope": 3.0, "ndwi": 0.05, "nir": 0.1, "aerosol": 0.1}
_GAIN = 2.0


class SpectralIndexDetector(nn.Module):
    """Per-pixel landslide logit from L4S-unit bands (B1, B3, B4, B8 and slope of the 14)."""

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
        self._idx = {b: ALL_BANDS.index(b) for b in ("B1", "B3", "B4", "B8", "slope")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = x.float() * self.l4s_scale
        b1, b3, b4, b8, slope = (raw[:, self._idx[b]:self._idx[b] + 1] for b in ("B1", "B3", "B4", "B8", "slope"))
        eps = 1e-3
        ndvi = (b8 - b4) / (b8 + b4 + eps)
        ndwi = (b3 - b8) / (b3 + b8 + eps)
        bare = (self.ndvi_max - ndvi) / _SOFTNESS["ndvi"]
        bright = (torch.log(b4.clamp_min(1.0)) - torch.log(self.red_min_dn)) / _SOFTNESS["red"]
        steep = (slope - self.slope_min_deg) / _SOFTNESS["slope"]
        dry = torch.maximum((self.ndwi_max - ndwi) / _SOFTNESS["ndwi"],
                            (torch.log(b8.clamp_min(1.0)) - torch.log(self.water_nir_max_dn)) / _SOFTNESS["nir"])
        clear = (torch.log(self.aerosol_max_dn) - torch.log(b1.clamp_min(1.0))) / _SOFTNESS["aerosol"]
        tests = torch.cat([bare, bright, steep, dry, clear], dim=1)
        return _GAIN * tests.amin(dim=1, keepdim=True)


__all__ = ["SpectralIndexDetector", "DEFAULTS"]
