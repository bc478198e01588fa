"""The training-free spectral detector on constructed pixels: bare scars on slopes yes, the rest no."""
from __future__ import annotations

import numpy as np
import torch

from landslide_core.bands import ALL_BANDS, L4S_SCALE
from landslide_core.checkpoint import load_checkpoint, resolve_model_path

#                  B1    B2    B3    B4    B5    B6    B7    B8    B9  B10   B11   B12  slope elev
PIXELS = {
    "forest":     (1150,  850,  700,  450,  800, 1800, 2200, 2300, 900, 12, 1400,  600, 30, 900),
    "soil scar":  (1200, 1150, 1100, 1050, 1250, 1500, 1600, 1650, 800, 12, 1900, 1450, 28, 900),
    "white scar": (3200, 3900, 3950, 4000, 4050, 4100, 4150, 4100, 2200, 15, 3800, 3100, 32, 900),
    "thick cloud": (6500, 6300, 6200, 6200, 6300, 6400, 6400, 6400, 5200, 300, 4400, 3000, 30, 900),
    "river water": (1300, 1100, 1000, 800, 700, 500, 450, 420, 300, 11, 200, 120, 20, 900),
    "bare flat field": (1200, 1150, 1100, 1050, 1250, 1500, 1600, 1650, 800, 12, 1900, 1450, 2, 900),
}
EXPECTED = {"forest": False, "soil scar": True, "white scar": True, "thick cloud": False, "river water": False,
            "bare flat field": False}


def test_index_model_says_landslide_only_for_bare_ground_on_slopes():
    model, card = load_checkpoint(resolve_model_path("index"))
    assert card.architecture == "spectral_index" and card.bands == list(ALL_BANDS)
    raw = np.array(list(PIXELS.values()), np.float32)  # (n, 14)
    x = torch.from_numpy((raw / L4S_SCALE).astype(np.float32)).T[None, :, None, :]  # (1, 14, 1, n)
    with torch.inference_mode():
        prob = torch.sigmoid(model(x))[0, 0, 0].numpy()
    got = {name: bool(p >= card.threshold) for name, p in zip(PIXELS, prob)}
    assert got == EXPECTED, dict(zip(PIXELS, prob.round(3)))
