"""An offline Earth Engine service for the real ``earthengine-api`` client.

:class:`EarthEngineService` is an httplib2-style transport (``request(uri, method, body,
headers)``) given to ``ee.Initialize(http_transport=...)``: the real client library (its
discovery-built REST resource, serializer, argument checks and error translation) runs
unchanged and only the HTTP exchange is answered here. Requests are matched by method and
path, never by order (tiles download in parallel). It serves:

* the discovery document and the algorithm list that ship inside the earthengine-api wheel
  (``ee/tests/cloud_api_discovery_document.json``, ``ee/tests/algorithms.json``); every
  expression is checked against that list (unknown function, unknown or missing argument);
* the OAuth token endpoint: JWT-bearer grants are verified (RS256 signature against the
  signed-up key's public half, ``kid``, ``aud``, ``exp``), refresh-token grants looked up,
  refusals answered as Google does (``invalid_grant``); every API call needs an issued token;
* a cloud machine's metadata server (service-account info and token);
* ``value:compute``: a small evaluator for the collection part of an expression (load, date
  and property filters, saveFirst join, sort, limit, map to Features whose properties are
  image properties or ``reduceRegion`` results), answered from a scripted scene catalogue;
* ``image:computePixels``: the service's limits (a grid side at most 32768 px; a total request
  size at most 50,331,648 bytes counted as each band's bytes plus one mask byte per pixel, the
  band types read from the expression's casts), answered with NPY bytes of a structured
  array, after a simulated latency (per answer) and transfer time (the answers share one link
  of ``bandwidth_bytes_s``).

Outside the transport the client makes one request of its own (urllib, at Initialize: the
data catalogue's list of deprecated assets); :func:`reset_ee` points it at a local empty
catalogue file. The expression side lives in tests/ee_service_expressions.py.

Errors come in the service's JSON shape ``{"error": {"code", "message", "status"}}`` with the
service's messages; :meth:`EarthEngineService.fail` scripts them per route.
"""
from __future__ import annotations

import base64
import io
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import httplib2
import numpy as np

from ee_service_expressions import (ALGORITHMS_RAW, EE_TESTS, Evaluator, Scene, Unsupported,  # noqa: F401
                                    check_against_algorithms, decode_expression, features_answer,
                                    functions_called, image_bands, walk, wild_bands)

DISCOVERY = (EE_TESTS / "cloud_api_discovery_document.json").read_bytes()
TOKEN_URI = "https://oauth2.googleapis.com/token"
REQUEST_LIMIT_BYTES = 50_331_648
SIDE_LIMIT_PX = 32768
#: Bytes of each pixel type the service returns; an uncast band is counted as double.
TYPE_BYTES = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4,
              "float32": 4, "float64": 8}

# --- the service's errors ---------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceError:
    """An error answer: HTTP code, Google status and the service's message."""

    code: int
    status: str
    message: str

    def body(self) -> bytes:
        return json.dumps({"error": {"code": self.code, "message": self.message, "status": self.status}}).encode()


def unavailable() -> ServiceError:
    return ServiceError(503, "UNAVAILABLE", "The service is currently unavailable.")


def deadline_exceeded() -> ServiceError:
    return ServiceError(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")


def internal_error() -> ServiceError:
    return ServiceError(500, "INTERNAL", "An internal error has occurred.")


def too_many_aggregations() -> ServiceError:
    return ServiceError(429, "RESOURCE_EXHAUSTED", "Too many concurrent aggregations.")


def quota_exceeded() -> ServiceError:
    return ServiceError(429, "RESOURCE_EXHAUSTED",
                        "Quota exceeded for quota metric 'Number of read requests' and limit 'Number of "
                        "read requests per minute per user' of service 'earthengine.googleapis.com' for "
                        "consumer 'project_number:123456789012'.")


def computation_timed_out() -> ServiceError:
    return ServiceError(400, "INVALID_ARGUMENT", "Computation timed out.")


def memory_limit_exceeded() -> ServiceError:
    return ServiceError(400, "INVALID_ARGUMENT", "User memory limit exceeded.")


def total_request_size(nbytes: int) -> ServiceError:
    return ServiceError(400, "INVALID_ARGUMENT",
                        f"Total request size ({nbytes} bytes) must be less than or equal to "
                        f"{REQUEST_LIMIT_BYTES} bytes.")


def grid_too_large(width: int, height: int) -> ServiceError:
    return ServiceError(400, "INVALID_ARGUMENT",
                        f"Pixel grid dimensions ({width}x{height}) must be less than or equal to {SIDE_LIMIT_PX}.")


def bad_request(message: str) -> ServiceError:
    return ServiceError(400, "INVALID_ARGUMENT", message)


def unauthenticated() -> ServiceError:
    return ServiceError(401, "UNAUTHENTICATED",
                        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                        "login cookie or other valid authentication credential. See "
                        "https://developers.google.com/identity/sign-in/web/devconsole-project.")


def not_registered(project: str) -> ServiceError:
    return ServiceError(403, "PERMISSION_DENIED",
                        f"Project '{project}' is not registered to use Earth Engine. Visit "
                        "https://developers.google.com/earth-engine/guides/access to register your project.")


# --- keys -------------------------------------------------------------------------------------
_RSA_CACHE: dict[int, Any] = {}


def _rsa_key(slot: int = 0):
    """An RSA key made at test time (cached per slot for speed)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if slot not in _RSA_CACHE:
        _RSA_CACHE[slot] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _RSA_CACHE[slot]


def make_service_account_key(email: str = "bot@proj-1.iam.gserviceaccount.com", project: str = "proj-1",
                             marker: str = "", slot: int = 0, token_uri: Optional[str] = TOKEN_URI) -> dict:
    """A service-account JSON key (as Google issues them) made with ``cryptography``.

    ``marker`` goes into ``private_key_id`` and into the PEM text (as a line before the block,
    which PEM readers skip): any leak of the key shows the marker.
    """
    from cryptography.hazmat.primitives import serialization

    pem = _rsa_key(slot).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()
    if marker:
        pem = f"{marker}\n{pem}"
    key = {"type": "service_account", "project_id": project,
           "private_key_id": f"{marker}{secrets.token_hex(20)}"[:40] if marker else secrets.token_hex(20),
           "private_key": pem, "client_email": email, "client_id": "1" * 21,
           "auth_uri": "https://accounts.google.com/o/oauth2/auth",
           "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
           "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/bot",
           "universe_domain": "googleapis.com"}
    if token_uri:
        key["token_uri"] = token_uri
    return key


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- pixels -------------------------------------------------------------------------------------
def expected_value(band_index: int, x_px, y_px, dtype: str = "float32") -> np.ndarray:
    """The default pixel value of a band at integer map pixel positions (x/scaleX, y/scaleY)."""
    v = (np.asarray(x_px, dtype=np.int64) * 7 + np.asarray(y_px, dtype=np.int64) * 13 + band_index * 101) % 10007
    if dtype.startswith(("uint", "int")):
        return v.astype(np.dtype(dtype))
    return (v.astype(np.float32) + np.float32(band_index) / np.float32(8.0)).astype(np.dtype(dtype))


def grid_positions(grid: dict) -> tuple[np.ndarray, np.ndarray]:
    dims, t = grid["dimensions"], grid["affineTransform"]
    x = np.int64(round(t["translateX"] / t["scaleX"])) + np.arange(dims["width"], dtype=np.int64)[None, :]
    y = np.int64(round(t["translateY"] / t["scaleY"])) + np.arange(dims["height"], dtype=np.int64)[:, None]
    return x, y


def pattern_pixels(bands: list[tuple[str, str]], grid: dict) -> np.ndarray:
    """A structured (h, w) array: each band's value depends only on the band and map position;
    a band called ``flags`` is 3 (clear, elevation present)."""
    x, y = grid_positions(grid)
    h, w = grid["dimensions"]["height"], grid["dimensions"]["width"]
    out = np.empty((h, w), dtype=[(b, np.dtype(t)) for b, t in bands])
    for k, (b, t) in enumerate(bands):
        out[b] = 3 if b == "flags" else expected_value(k, x, y, t)
    return out


# --- the service --------------------------------------------------------------------------------
@dataclass
class Exchange:
    """One HTTP exchange as the service saw it."""

    method: str
    route: str
    path: str
    status: int
    request_bytes: int
    response_bytes: int
    started: float
    ended: float
    detail: dict = field(default_factory=dict)


_ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/\$discovery/rest$", "discovery"),
    ("GET", r"/v1(?:alpha|beta)?/projects/([^/]+)/algorithms$", "algorithms"),
    ("POST", r"/v1(?:alpha|beta)?/projects/([^/]+)/value:compute$", "compute"),
    ("POST", r"/v1(?:alpha|beta)?/projects/([^/]+)/image:computePixels$", "computePixels"),
    ("POST", r"^/token$", "token"),
    ("GET", r"/computeMetadata/v1/instance/service-accounts/default/?$", "metadata_info"),
    ("GET", r"/computeMetadata/v1/instance/service-accounts/default/token$", "metadata_token"),
]


class EarthEngineService:
    """The offline service; give it to ``ee.Initialize(http_transport=...)``."""

    def __init__(self, latency_s: float = 0.0, bandwidth_bytes_s: Optional[float] = None,
                 catalog: Optional[dict[str, list[Scene]]] = None,
                 pixel_fn: Callable[[list, dict], np.ndarray] = pattern_pixels):
        self.lock = threading.Lock()
        self.latency_s = latency_s
        self.bandwidth_bytes_s = bandwidth_bytes_s
        self.catalog: dict[str, list[Scene]] = catalog or {}
        self.pixel_fn = pixel_fn
        self.projects: set[str] = set()
        self.keys: dict[str, dict] = {}            # client_email -> {"public", "kid", "revoked"}
        self.refresh_tokens: dict[str, bool] = {}  # token -> revoked
        self.vm_account: Optional[str] = None
        self.tokens: set[str] = set()
        self.faults: dict[str, list[ServiceError]] = {}
        self.memory_limit_px: Optional[int] = None
        self.exchanges: list[Exchange] = []
        self._link_free_at = 0.0

    # --- setup ----------------------------------------------------------------------------------
    def register_project(self, project: str) -> None:
        self.projects.add(project)

    def sign_up_key(self, key: dict, revoked: bool = False) -> None:
        """Accept this service-account key (its public half), or refuse it (deleted or expired)."""
        from cryptography.hazmat.primitives import serialization

        pem = key["private_key"]
        pem = pem[pem.index("-----BEGIN"):]
        private = serialization.load_pem_private_key(pem.encode(), password=None)
        self.keys[key["client_email"]] = {"public": private.public_key(), "kid": key["private_key_id"],
                                          "revoked": revoked}
        self.register_project(key["project_id"])

    def sign_up_refresh_token(self, token: str, revoked: bool = False) -> None:
        self.refresh_tokens[token] = revoked

    def sign_up_vm(self, email: str = "vm@proj-1.iam.gserviceaccount.com") -> None:
        self.vm_account = email

    def add_scenes(self, collection: str, scenes: list[Scene]) -> None:
        self.catalog.setdefault(collection, []).extend(scenes)

    def fail(self, route: str, *errors: ServiceError) -> None:
        """The next requests to ``route`` ("computePixels", "compute", "token", ...) get these errors."""
        with self.lock:
            self.faults.setdefault(route, []).extend(errors)

    # --- records --------------------------------------------------------------------------------
    def calls(self, route: str) -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if e.route == route]

    def bytes_sent(self, route: Optional[str] = None) -> int:
        with self.lock:
            return sum(e.response_bytes for e in self.exchanges if route is None or e.route == route)

    # --- the transport --------------------------------------------------------------------------
    def request(self, uri, method="GET", body=None, headers=None, redirections=None, connection_type=None,
                **kwargs):
        started = time.monotonic()
        parsed = urllib.parse.urlsplit(uri)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        data = body.encode() if isinstance(body, str) else (body or b"")
        route, match = "unknown", None
        for m, pattern, name in _ROUTES:
            found = re.search(pattern, parsed.path)
            if m == method.upper() and found:
                route, match = name, found
                break
        detail: dict = {}
        try:
            status, payload, ctype = self._answer(route, match, parsed, headers, data, detail)
        except Unsupported as exc:  # a harness gap: fail loudly (400 is not retried)
            status, payload, ctype = 400, bad_request(f"harness cannot evaluate {exc}").body(), "json"
        if self.latency_s and route in ("compute", "computePixels"):
            time.sleep(self.latency_s)
        if self.bandwidth_bytes_s and route == "computePixels":
            with self.lock:  # one shared link: concurrent answers queue for it
                start = max(time.monotonic(), self._link_free_at)
                self._link_free_at = start + len(payload) / self.bandwidth_bytes_s
                done_at = self._link_free_at
            time.sleep(max(0.0, done_at - time.monotonic()))
        with self.lock:
            self.exchanges.append(Exchange(method.upper(), route, parsed.path, status, len(data), len(payload),
                                           started, time.monotonic(), detail))
        content_type = {"json": "application/json; charset=UTF-8", "npy": "application/octet-stream"}[ctype]
        return httplib2.Response({"status": status, "content-type": content_type}), payload

    def _answer(self, route, match, parsed, headers, data, detail):
        if route in ("discovery", "token", "algorithms"):
            with self.lock:
                queued = self.faults.get(route)
                fault = queued.pop(0) if queued else None
            if fault is not None:
                return fault.code, fault.body(), "json"
        if route == "discovery":
            return 200, DISCOVERY, "json"
        if route == "token":
            return self._token(data)
        if route.startswith("metadata"):
            return self._metadata(route, headers)
        if route == "unknown":
            return 404, ServiceError(404, "NOT_FOUND", f"Requested entity was not found: {parsed.path}").body(), "json"
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return 401, unauthenticated().body(), "json"
        project = urllib.parse.unquote(match.group(1))
        if project not in self.projects:
            return 403, not_registered(project).body(), "json"
        request = json.loads(data or b"{}") if route != "algorithms" else {}
        dims = (request.get("grid") or {}).get("dimensions")
        if dims:
            detail.update(width=int(dims.get("width", 0)), height=int(dims.get("height", 0)))
        with self.lock:
            queued = self.faults.get(route)
            fault = queued.pop(0) if queued else None
        if fault is not None:
            return fault.code, fault.body(), "json"
        if route == "algorithms":
            return 200, ALGORITHMS_RAW, "json"
        tree = decode_expression(request["expression"])
        detail["functions"] = sorted(functions_called(tree))
        problem = check_against_algorithms(tree)
        if problem is not None:
            return 400, bad_request(problem).body(), "json"
        if route == "compute":
            value = Evaluator(self.catalog).run(tree)
            return 200, json.dumps({"result": features_answer(value)}).encode(), "json"
        return self._compute_pixels(tree, request, detail)

    def _compute_pixels(self, tree, request, detail):
        grid = request.get("grid") or {}
        dims = grid.get("dimensions", {})
        width, height = int(dims.get("width", 0)), int(dims.get("height", 0))
        known = image_bands(tree)
        wild = known is not None and wild_bands(known)
        types = dict(known) if known is not None and not wild else {}
        band_ids = request.get("bandIds") or [b for b, _ in (known or []) if not wild]
        if known is not None and not wild:
            for b in band_ids:
                if b not in types:
                    return 400, bad_request(f"Image.select: Pattern '{b}' did not match any bands.").body(), "json"
        bands = [(b, types.get(b) or (known[0][1] if wild else None) or "float64") for b in band_ids]
        detail.update(width=width, height=height, bands=bands, scene_ids=self.scenes_used(tree))
        if max(width, height) > SIDE_LIMIT_PX:
            return 400, grid_too_large(width, height).body(), "json"
        total = width * height * sum(TYPE_BYTES[t] + 1 for _, t in bands)
        detail["request_size"] = total
        if total > REQUEST_LIMIT_BYTES:
            return 400, total_request_size(total).body(), "json"
        if self.memory_limit_px is not None and width * height > self.memory_limit_px:
            return 400, memory_limit_exceeded().body(), "json"
        arr = self.pixel_fn(bands, grid)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return 200, buf.getvalue(), "npy"

    def scenes_used(self, tree) -> dict[str, list[str]]:
        """Collection id -> ids of the granules the image's mosaics and reductions are made of."""
        ids: dict[str, set] = {}
        for n in walk(tree):
            if n[0] == "call" and (n[1] == "ImageCollection.mosaic" or n[1].startswith("reduce.")):
                try:
                    items = Evaluator(self.catalog).run(n[2]["collection"])
                except Unsupported:
                    continue
                for x in items:
                    if isinstance(x, dict) and x.get("system:index"):
                        ids.setdefault(x.get("_collection", "?"), set()).add(x["system:index"])
        return {k: sorted(v) for k, v in ids.items()}

    # --- sign-in ------------------------------------------------------------------------------
    def _issue(self) -> tuple[int, bytes, str]:
        token = "ya29." + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return 200, json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).encode(), "json"

    @staticmethod
    def _oauth_error(error: str, description: str) -> tuple[int, bytes, str]:
        return 400, json.dumps({"error": error, "error_description": description}).encode(), "json"

    def _token(self, data: bytes) -> tuple[int, bytes, str]:
        form = dict(urllib.parse.parse_qsl(data.decode()))
        grant = form.get("grant_type")
        if grant == "refresh_token":
            revoked = self.refresh_tokens.get(form.get("refresh_token", ""))
            if revoked is None or revoked:
                return self._oauth_error("invalid_grant", "Token has been expired or revoked.")
            return self._issue()
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._oauth_error("unsupported_grant_type", "Invalid grant_type: " + str(grant)[:40])
        return self._jwt_grant(form.get("assertion", ""))

    def _jwt_grant(self, assertion: str) -> tuple[int, bytes, str]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
        except (ValueError, json.JSONDecodeError):
            return self._oauth_error("invalid_grant", "Invalid JWT.")
        key = self.keys.get(claims.get("iss", ""))
        if key is None or key["revoked"] or header.get("kid") != key["kid"] or header.get("alg") != "RS256":
            return self._oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            key["public"].verify(_b64url_decode(sig_b64), f"{head_b64}.{claims_b64}".encode(),
                                 padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return self._oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != TOKEN_URI or float(claims.get("exp", 0)) < time.time():
            return self._oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token "
                                     "(60 minutes) and in a reasonable timeframe.")
        return self._issue()

    def _metadata(self, route: str, headers: dict) -> tuple[int, bytes, str]:
        if headers.get("metadata-flavor") != "Google" or self.vm_account is None:
            return 404, b"Not Found", "json"
        if route == "metadata_info":
            return 200, json.dumps({"aliases": ["default"], "email": self.vm_account,
                                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}).encode(), "json"
        return self._issue()


# --- pytest glue ----------------------------------------------------------------------------------
PROJECT = "proj-1"
S2 = "COPERNICUS/S2_HARMONIZED"
S2_PROBABILITY = "COPERNICUS/S2_CLOUD_PROBABILITY"
DEM = "COPERNICUS/DEM/GLO30"


def scene(scene_id: str, date: str, cloudy_pct: float = 10.0, clear: float = 0.95, covered: float = 1.0) -> Scene:
    return Scene(scene_id, date, cloudy_pct, {"clear": clear, "covered": covered})


def add_granules(service: EarthEngineService, scenes: list[Scene]) -> None:
    """Sentinel-2 granules with their cloud-probability twins (joined by id), and a DEM tile."""
    service.add_scenes(S2, scenes)
    service.add_scenes(S2_PROBABILITY, [Scene(s.scene_id, s.date) for s in scenes])
    if not service.catalog.get(DEM):
        service.add_scenes(DEM, [Scene("dem_tile", "2021-01-01")])


def reset_ee() -> None:
    """Forget any sign-in, and point the client's one request outside its HTTP transport (the
    data catalogue's list of deprecated assets, fetched with urllib at Initialize) at a local
    empty catalogue: tests make no request beyond the service."""
    import tempfile

    import ee

    from landslide_core.sources import ee_signin

    ee_signin.reset_for_tests()
    ee.Reset()
    stac = Path(tempfile.gettempdir()) / "ee_service_empty_catalog.json"
    if not stac.exists():
        stac.write_text('{"links": []}')
    ee.deprecation._DEPRECATED_ASSETS_URL = stac.as_uri()


def signed_up_service(**kw) -> tuple[EarthEngineService, dict]:
    """A service with one signed-up service-account key (returned) and its project registered."""
    service = EarthEngineService(**kw)
    key = make_service_account_key()
    service.sign_up_key(key)
    return service, key


def key_config(key: dict, project: str = PROJECT):
    from landslide_core.sources.ee_auth import AuthConfig

    return AuthConfig(kind="service_account", key_info=key, project=project, project_from="test")


try:
    import pytest

    @pytest.fixture
    def ee_service():
        """A fresh offline service with a signed-up key; the ee library reset before and after.
        Afterwards: no request went to a path the service does not know."""
        import ee

        url = ee.deprecation._DEPRECATED_ASSETS_URL
        reset_ee()
        service, key = signed_up_service()
        service.key = key
        yield service
        reset_ee()
        ee.deprecation._DEPRECATED_ASSETS_URL = url
        unknown = [e.path for e in service.exchanges if e.route == "unknown"]
        assert not unknown, f"requests to unknown paths: {unknown}"
except ImportError:  # pragma: no cover - the benchmark imports this without pytest
    pass
