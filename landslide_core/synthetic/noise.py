"""Spectral (FFT) noise: smooth random fields with a chosen power spectrum."""
from __future__ import annotations

from concurrent.futures import Executor
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import fft as sfft


def _fast_len(n: int) -> int:
    return int(sfft.next_fast_len(int(n), real=True))


@lru_cache(maxsize=16)
def _radial_frequency(ph: int, pw: int) -> np.ndarray:
    fy = sfft.fftfreq(ph).astype(np.float32)[:, None]
    fx = sfft.rfftfreq(pw).astype(np.float32)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    f[0, 0] = 1.0
    f.setflags(write=False)
    return f


def spectral_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0,
                   min_wavelength_px: float = 2.0, max_wavelength_px: float | None = None,
                   pad: float = 0.15) -> np.ndarray:
    """A zero-mean, unit-std float32 field with power ~ f**-beta between two wavelengths.

    The field is made on a grid larger by ``pad`` and cropped, so it does not wrap around.
    Deterministic for a given generator state.
    """
    return draw_noise(rng, shape, beta, min_wavelength_px, max_wavelength_px, pad).field()


class NoiseDraw:
    """The random part of a :func:`spectral_noise` field, drawn from the generator at once (so
    the generator's stream is as if the field had been made there); :meth:`field` makes the
    field from it, at any later time and in any thread (numpy and the FFT release the GIL)."""

    def __init__(self, shape: tuple[int, int], beta: float, min_wavelength_px: float,
                 max_wavelength_px: float | None, pad: float, step: int = 1,
                 coarse: "NoiseDraw | None" = None, normals: tuple[np.ndarray, np.ndarray] | None = None):
        self.shape, self.beta, self.pad, self.step = shape, beta, pad, step
        self.min_wavelength_px, self.max_wavelength_px = min_wavelength_px, max_wavelength_px
        self.coarse, self.normals = coarse, normals

    def field(self) -> np.ndarray:
        h, w = self.shape
        if self.coarse is not None:  # smooth fields are made on a coarser grid and interpolated
            out = upsample_linear(self.coarse.field(), self.step, h, w)
            out -= out.mean()
            out /= max(float(out.std()), 1e-12)
            return out
        ph, pw = _padded(h, w, self.pad)
        f = _radial_frequency(ph, pw)
        amp = f ** np.float32(-self.beta / 2.0)
        f_hi = 1.0 / max(self.min_wavelength_px, 2.0)
        amp *= 1.0 / (1.0 + (f / f_hi) ** 8)  # soft low-pass
        if self.max_wavelength_px:
            f_lo = 1.0 / self.max_wavelength_px
            amp *= 1.0 / (1.0 + (f_lo / f) ** 8)  # soft high-pass
        amp[0, 0] = 0.0
        real, imag = self.normals
        spec = np.empty(amp.shape, np.complex64)
        spec.real = real * amp
        spec.imag = imag * amp
        field = sfft.irfft2(spec, s=(ph, pw), workers=1)
        oy, ox = (ph - h) // 2, (pw - w) // 2
        out = np.ascontiguousarray(field[oy:oy + h, ox:ox + w], dtype=np.float32)
        out -= out.mean()
        std = float(out.std())
        if std > 0:
            out /= std
        return out


def field_later(draw: NoiseDraw, pool: "Executor | None" = None) -> "Callable[[], np.ndarray]":
    """A function that returns ``draw``'s field: made by ``pool`` from now on (beside the
    caller's work), or by the caller when it asks (no pool)."""
    if pool is None:
        return draw.field
    return pool.submit(draw.field).result


def _padded(h: int, w: int, pad: float) -> tuple[int, int]:
    return _fast_len(h * (1 + pad) + 2), _fast_len(w * (1 + pad) + 2)


def draw_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0,
               min_wavelength_px: float = 2.0, max_wavelength_px: float | None = None,
               pad: float = 0.15) -> NoiseDraw:
    """The random numbers of :func:`spectral_noise` (same arguments), drawn now; the field later
    with :meth:`NoiseDraw.field` (``spectral_noise(...) == draw_noise(...).field()``)."""
    h, w = int(shape[0]), int(shape[1])
    step = int(min(8, max(1, min_wavelength_px // 4)))
    if step > 1 and min(h, w) // step >= 8:
        coarse = draw_noise(rng, (-(-h // step) + 1, -(-w // step) + 1), beta, min_wavelength_px / step,
                            None if max_wavelength_px is None else max_wavelength_px / step, pad)
        return NoiseDraw((h, w), beta, min_wavelength_px, max_wavelength_px, pad, step, coarse=coarse)
    ph, pw = _padded(h, w, pad)
    half = (ph, pw // 2 + 1)  # the rfft's half spectrum, as _radial_frequency(ph, pw)
    real = rng.standard_normal(half, dtype=np.float32)
    imag = rng.standard_normal(half, dtype=np.float32)
    return NoiseDraw((h, w), beta, min_wavelength_px, max_wavelength_px, pad, normals=(real, imag))


def upsample_linear(small: np.ndarray, step: float, h: int, w: int, offset: float = 0.0) -> np.ndarray:
    """(h, w) float32 linear interpolation of ``small`` sampled every ``step`` output pixels.

    Output pixel i reads ``small`` at (i - offset) / step (clamped at the edges).
    """
    def along(a: np.ndarray, n: int, axis: int) -> np.ndarray:
        pos = np.clip((np.arange(n, dtype=np.float32) - offset) / step, 0.0, a.shape[axis] - 1.0)
        i0 = np.minimum(pos.astype(np.int64), max(a.shape[axis] - 2, 0))
        i1 = np.minimum(i0 + 1, a.shape[axis] - 1)
        f = (pos - i0).astype(np.float32)
        if axis == 0:
            return a[i0] * (1 - f)[:, None] + a[i1] * f[:, None]
        return a[:, i0] * (1 - f)[None, :] + a[:, i1] * f[None, :]

    return np.ascontiguousarray(along(along(small.astype(np.float32, copy=False), h, 0), w, 1), np.float32)


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, smooth in between (float32)."""
    t = np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
