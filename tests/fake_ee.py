"""A fake ``ee`` (earthengine-api) module at the network boundary, for tests without a network.

Every ``ee`` object is a :class:`Node` recording the method chain that built it, so tests can
read the expressions (``describe()``). ``ee.data.computePixels`` records each request (its
grid and expression) and plays back pixel arrays (a deterministic pattern of the map
coordinates by default) or scripted errors; ``getInfo()`` plays back scripted answers.
Install it with the ``fake_ee`` fixture (``install(monkeypatch)``).
"""
from __future__ import annotations

import socket
import sys
import threading
import types
from typing import Any, Callable, Optional

import numpy as np


class EEException(Exception):
    """Stand-in for ``ee.ee_exception.EEException``."""


class Node:
    """An ee object: the operation that made it, its arguments and its parent."""

    def __init__(self, fake: "FakeEE", op: str, args: tuple = (), kwargs: Optional[dict] = None,
                 parent: Optional["Node"] = None):
        self._fake, self._op, self._args, self._kwargs, self._parent = fake, op, args, kwargs or {}, parent

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args, **kwargs):
            if name == "getInfo":
                return self._fake.answer_getinfo(self)
            args = tuple(self._fake.trace(a) for a in args)
            kwargs = {k: self._fake.trace(v) for k, v in kwargs.items()}
            return Node(self._fake, name, args, kwargs, self)

        return method

    def describe(self) -> str:
        inner = ", ".join([_describe(a) for a in self._args] +
                          [f"{k}={_describe(v)}" for k, v in sorted(self._kwargs.items())])
        head = f"{self._parent.describe()}." if self._parent is not None else ""
        return f"{head}{self._op}({inner})"

    def __repr__(self) -> str:
        return f"<fake ee {self.describe()}>"


class Traced:
    """A Python function passed to ``map``: run once on a placeholder and recorded."""

    def __init__(self, body: Node):
        self.body = body


def _describe(v: Any) -> str:
    if isinstance(v, Node):
        return v.describe()
    if isinstance(v, Traced):
        return f"lambda: {_describe(v.body)}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_describe(x) for x in v) + "]"
    return repr(v)


class Namespace:
    """``ee.Image`` style: callable (a constructor) with static methods (``ee.Image.cat``)."""

    def __init__(self, fake: "FakeEE", name: str):
        self._fake, self._name = fake, name

    def __call__(self, *args, **kwargs):
        args = tuple(self._fake.trace(a) for a in args)
        return Node(self._fake, self._name, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def static(*args, **kwargs):
            args = tuple(self._fake.trace(a) for a in args)
            return Node(self._fake, f"{self._name}.{name}", args, kwargs)

        return static


def pattern_pixels(band_names, grid: dict) -> np.ndarray:
    """A structured (h, w) float32 array whose values depend only on band and map position."""
    dims, t = grid["dimensions"], grid["affineTransform"]
    w, h = dims["width"], dims["height"]
    cols = np.arange(w, dtype=np.int64)
    rows = np.arange(h, dtype=np.int64)
    x = np.int64(round(t["translateX"] / t["scaleX"])) + cols[None, :]
    y = np.int64(round(t["translateY"] / t["scaleY"])) + rows[:, None]
    out = np.empty((h, w), dtype=[(b, "<f4") for b in band_names])
    for k, b in enumerate(band_names):
        out[b] = expected_value(k, x, y)
    return out


def expected_value(band_index: int, x_px, y_px) -> np.ndarray:
    """The pattern value for a band at integer map pixel positions (x/scaleX, y/scaleY)."""
    v = (x_px * 7 + y_px * 13 + band_index * 101) % 10007
    return (v.astype(np.float32) + np.float32(band_index) / np.float32(8.0))


class FakeEE:
    """Records calls and plays back answers; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[tuple[str, tuple, dict]] = []
        self.compute_requests: list[dict] = []
        self.getinfo_requests: list[str] = []
        self.errors: list[BaseException] = []          # raised by the next computePixels calls
        self.getinfo_errors: list[BaseException] = []  # raised by the next getInfo calls
        self.memory_limit_px: Optional[int] = None     # tiles larger than this run out of memory
        self.pixel_fn: Callable[[list, dict], Any] = pattern_pixels
        self.listing: dict = {"type": "FeatureCollection", "features": []}
        self.init_error: Optional[BaseException] = None
        self.module = self._build_module()

    # --- recording helpers -----------------------------------------------------------------
    def trace(self, v: Any) -> Any:
        if callable(v) and not isinstance(v, (Node, Namespace)):
            return Traced(v(Node(self, "var")))
        return v

    def answer_getinfo(self, node: Node) -> Any:
        with self.lock:
            self.getinfo_requests.append(node.describe())
            if self.getinfo_errors:
                raise self.getinfo_errors.pop(0)
        return self.listing

    def compute_pixels(self, params: dict) -> Any:
        grid = params["grid"]
        with self.lock:
            self.compute_requests.append({"grid": grid, "bandIds": params.get("bandIds"),
                                          "fileFormat": params.get("fileFormat"),
                                          "expression": _describe(params["expression"])})
            if self.errors:
                raise self.errors.pop(0)
        dims = grid["dimensions"]
        if self.memory_limit_px is not None and dims["width"] * dims["height"] > self.memory_limit_px:
            raise EEException("User memory limit exceeded.")
        return self.pixel_fn(params.get("bandIds"), grid)

    # --- the module ------------------------------------------------------------------------
    def _build_module(self) -> types.ModuleType:
        ee = types.ModuleType("ee")
        ee.__fake__ = self
        exc_mod = types.ModuleType("ee.ee_exception")
        exc_mod.EEException = EEException
        ee.ee_exception = exc_mod
        ee.EEException = EEException
        for name in ("Image", "ImageCollection", "Geometry", "Filter", "Join", "Number", "Reducer",
                     "Feature", "FeatureCollection", "Date", "List", "Dictionary", "String",
                     "Algorithms", "Kernel", "Projection"):
            setattr(ee, name, Namespace(self, name))

        def initialize(credentials=None, project=None, **kwargs):
            self.calls.append(("Initialize", (credentials,), {"project": project, **kwargs}))
            if self.init_error is not None:
                raise self.init_error

        def service_account_credentials(email=None, key_file=None, key_data=None):
            self.calls.append(("ServiceAccountCredentials", (email,), {"key_file": key_file,
                                                                       "key_data": key_data}))
            return f"credentials-for-{email}"

        ee.Initialize = initialize
        ee.ServiceAccountCredentials = service_account_credentials
        data = types.ModuleType("ee.data")
        data.computePixels = self.compute_pixels
        ee.data = data
        return ee

    def install(self, monkeypatch) -> "FakeEE":
        monkeypatch.setitem(sys.modules, "ee", self.module)
        monkeypatch.setitem(sys.modules, "ee.ee_exception", self.module.ee_exception)
        monkeypatch.setitem(sys.modules, "ee.data", self.module.data)
        return self


# Errors as Earth Engine and the network raise them.
def rate_limited() -> EEException:
    return EEException("Too many concurrent aggregations.")


def unavailable() -> EEException:
    return EEException("<HttpError 503 when requesting ... returned \"The service is currently unavailable.\">")


def computation_timed_out() -> EEException:
    return EEException("Computation timed out.")


def out_of_memory() -> EEException:
    return EEException("User memory limit exceeded.")


def socket_timeout() -> BaseException:
    return socket.timeout("The read operation timed out")


def listing_feature(scene_id: str, date: str, scene_cloud: float, aoi_cloud: Optional[float],
                    covered: Optional[float]) -> dict:
    """One feature of the scene-listing answer (fractions for AOI cloud and coverage)."""
    import datetime

    t = datetime.datetime.fromisoformat(date).replace(hour=15, tzinfo=datetime.timezone.utc)
    return {"type": "Feature", "geometry": None,
            "properties": {"scene_id": scene_id, "time_ms": int(t.timestamp() * 1000),
                           "scene_cloud_pct": scene_cloud, "aoi_cloud": aoi_cloud, "aoi_covered": covered}}


try:
    import pytest

    @pytest.fixture
    def fake_ee(monkeypatch):
        """A fresh fake ``ee`` installed in ``sys.modules``; sign-in state reset."""
        from landslide_core.sources import ee_auth

        ee_auth.reset_for_tests()
        fake = FakeEE().install(monkeypatch)
        yield fake
        ee_auth.reset_for_tests()
except ImportError:  # pragma: no cover - pytest is always there in tests
    pass
