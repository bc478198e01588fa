"""The expression side of the offline Earth Engine service (tests/ee_service.py).

Earth Engine receives an expression graph (``ee.serializer``'s cloud form). Here it is decoded
into a tree, checked against the algorithm list that ships inside the earthengine-api wheel
(unknown function, unknown or missing argument), read for the band names and pixel types of
an image (its casts, renames, selections and concatenations) so that the service can count a
request's size as Earth Engine does, and evaluated on its collection side (load, date and
property filters, saveFirst join, sort, limit, map to Features of image properties and
``reduceRegion`` results) over a scripted scene catalogue. Images themselves stay opaque.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

EE_TESTS = Path(__import__("importlib.util").util.find_spec("ee").origin).parent / "tests"
ALGORITHMS_RAW = (EE_TESTS / "algorithms.json").read_bytes()
#: name -> (argument names, required argument names), from the wheel's algorithm list.
ALGORITHMS: dict[str, tuple[set, set]] = {
    a["name"].split("/", 1)[1]: ({x["argumentName"] for x in a.get("arguments", [])},
                                 {x["argumentName"] for x in a.get("arguments", []) if not x.get("optional")})
    for a in json.loads(ALGORITHMS_RAW)["algorithms"]}

_CASTS = {"Image.toUint8": "uint8", "Image.toInt8": "int8", "Image.toUint16": "uint16",
          "Image.toInt16": "int16", "Image.toUint32": "uint32", "Image.toInt32": "int32",
          "Image.toFloat": "float32", "Image.toDouble": "float64", "Image.toByte": "uint8",
          "Image.toShort": "int16", "Image.toInt": "int32", "Image.toLong": "float64"}


class Unsupported(Exception):
    """The harness cannot evaluate this part of an expression (a gap in the harness, not the code)."""


def decode_expression(expr: dict) -> Any:
    """The serialized expression as a tree: ("call", name, args) / ("const", v) / ("arg", name) /
    ("func", argnames, body) / ("array", items) / ("dict", items)."""
    values = expr["values"]

    def node(v: dict) -> Any:
        if "valueReference" in v:
            return node(values[v["valueReference"]])
        if "constantValue" in v:
            return ("const", v["constantValue"])
        if "functionInvocationValue" in v:
            f = v["functionInvocationValue"]
            name = f.get("functionName")
            if name is None:
                raise Unsupported("function invocation by reference")
            return ("call", name, {k: node(a) for k, a in f.get("arguments", {}).items()})
        if "argumentReference" in v:
            return ("arg", v["argumentReference"])
        if "functionDefinitionValue" in v:
            f = v["functionDefinitionValue"]
            return ("func", tuple(f["argumentNames"]), node(values[f["body"]]))
        if "arrayValue" in v:
            return ("array", [node(x) for x in v["arrayValue"]["values"]])
        if "dictionaryValue" in v:
            return ("dict", {k: node(x) for k, x in v["dictionaryValue"]["values"].items()})
        if "nullValue" in v:
            return ("const", None)
        raise Unsupported(f"value {sorted(v)}")

    return node(values[expr["result"]])


def walk(tree: Any):
    """Every node of a decoded expression, depth first."""
    stack = [tree]
    while stack:
        n = stack.pop()
        yield n
        if n[0] == "call":
            stack.extend(n[2].values())
        elif n[0] == "func":
            stack.append(n[2])
        elif n[0] == "array":
            stack.extend(n[1])
        elif n[0] == "dict":
            stack.extend(n[1].values())


def functions_called(tree: Any) -> set[str]:
    return {n[1] for n in walk(tree) if n[0] == "call"}


def check_against_algorithms(tree: Any) -> Optional[str]:
    """The service's complaint about an expression calling an unknown function or misusing
    arguments, or None."""
    for n in walk(tree):
        if n[0] != "call":
            continue
        name, args = n[1], n[2]
        if name not in ALGORITHMS:
            return f"Unknown function: {name}."
        allowed, required = ALGORITHMS[name]
        for a in args:
            if a not in allowed:
                return f"{name}: Unrecognized argument '{a}'."
        for a in required - set(args):
            return f"{name}: Parameter '{a}' is required."
    return None


def _const(tree: Any) -> Any:
    if tree[0] == "const":
        return tree[1]
    if tree[0] == "array":
        return [_const(x) for x in tree[1]]
    raise Unsupported(f"non-constant {tree[0]}")


def image_bands(tree: Any) -> Optional[list[tuple[str, Optional[str]]]]:
    """(band name, pixel type or None) of an image expression, as far as casts, renames,
    selections and concatenations tell; None when the band list is unknown."""
    if tree[0] != "call":
        return None
    name, args = tree[1], tree[2]
    if name in _CASTS:  # a cast of bands whose names are unknown: ("*", type)
        inner = image_bands(args["value"])
        return [("*", _CASTS[name])] if inner is None else [(b, _CASTS[name]) for b, _ in inner]
    if name == "Image.addBands":
        a, b = image_bands(args["dstImg"]), image_bands(args["srcImg"])
        return None if a is None or b is None or wild_bands(a) or wild_bands(b) else a + b
    if name == "Image.rename":
        inner = image_bands(args["input"])
        names = _const(args["names"])
        if inner is not None and wild_bands(inner):
            return [(n, inner[0][1]) for n in names]
        if inner is not None and len(inner) != len(names):
            raise Unsupported("rename with a different band count")
        return [(n, inner[i][1] if inner else None) for i, n in enumerate(names)]
    if name == "Image.select":
        selectors = _const(args["bandSelectors"])
        if not all(isinstance(s, str) and re.fullmatch(r"[A-Za-z0-9_]+", s) for s in selectors):
            return None
        inner = image_bands(args["input"])
        types = dict(inner) if inner else {}
        new = _const(args["newNames"]) if "newNames" in args else selectors
        return [(n, types.get(s, types.get("*"))) for s, n in zip(selectors, new)]
    if name in ("ImageCollection.mosaic",) or name.startswith("reduce."):
        coll = args.get("collection")
        if coll is not None and coll[0] == "call" and coll[1] == "Collection.map":
            body = coll[2]["baseAlgorithm"][2]
            inner = image_bands(body)
            return None if inner is None else [(b, None) for b, _ in inner]
        return None
    return None


def wild_bands(bands: list) -> bool:
    return len(bands) == 1 and bands[0][0] == "*"


@dataclass
class Scene:
    """One granule in the catalogue: its id, time, properties and per-AOI statistics."""

    scene_id: str
    date: str
    cloudy_pixel_pct: float = 10.0
    stats: dict = field(default_factory=lambda: {"clear": 0.95, "covered": 1.0})
    properties: dict = field(default_factory=dict)

    def as_element(self) -> dict:
        t = dt.datetime.fromisoformat(self.date).replace(hour=15, tzinfo=dt.timezone.utc)
        return {"system:index": self.scene_id, "system:time_start": int(t.timestamp() * 1000),
                "CLOUDY_PIXEL_PERCENTAGE": self.cloudy_pixel_pct, "MEAN_SOLAR_AZIMUTH_ANGLE": 120.0,
                "_stats": dict(self.stats), **self.properties}


class Evaluator:
    """Evaluates the collection side of an expression over a scene catalogue (images stay opaque)."""

    def __init__(self, catalog: dict[str, list[Scene]]):
        self.catalog = catalog

    def run(self, tree: Any, env: Optional[dict] = None) -> Any:
        env = env or {}
        kind = tree[0]
        if kind == "const":
            return tree[1]
        if kind == "array":
            return [self.run(x, env) for x in tree[1]]
        if kind == "dict":
            return {k: self.run(x, env) for k, x in tree[1].items()}
        if kind == "arg":
            return env[tree[1]]
        if kind == "func":
            return tree
        name, args = tree[1], tree[2]
        handler = getattr(self, "_" + name.replace(".", "_"), None)
        if handler is not None:
            return handler(args, env)
        if name.startswith(("Image.", "Reducer.", "Number.", "Projection", "Geometry", "Kernel.")):
            return ("opaque", name)
        raise Unsupported(name)

    # collections
    def _ImageCollection_load(self, args, env):
        cid = self.run(args["id"], env)
        return [{**s.as_element(), "_collection": cid} for s in self.catalog.get(cid, [])]

    def _Collection_filter(self, args, env):
        items = self.run(args["collection"], env)
        pred = self.run(args["filter"], env)
        return [x for x in items if pred(x)]

    def _Collection_limit(self, args, env):
        items = list(self.run(args["collection"], env))
        if "key" in args:
            key = self.run(args["key"], env)
            items.sort(key=lambda x: x.get(key), reverse=not self.run(args.get("ascending", ("const", True)), env))
        if "limit" in args:
            items = items[: int(self.run(args["limit"], env))]
        return items

    def _Collection_map(self, args, env):
        items = self.run(args["collection"], env)
        argnames, body = args["baseAlgorithm"][1], args["baseAlgorithm"][2]
        out = []
        for x in items:
            r = self.run(body, {**env, argnames[0]: x})
            out.append(r if isinstance(r, dict) and r.get("type") == "Feature" else x)
        return out

    def _Join_apply(self, args, env):
        join = self.run(args["join"], env)
        primary, secondary = self.run(args["primary"], env), self.run(args["secondary"], env)
        cond = args["condition"]
        if join[0] != "saveFirst" or cond[1] != "Filter.equals":
            raise Unsupported("join other than saveFirst on equal fields")
        left, right = self.run(cond[2]["leftField"], env), self.run(cond[2]["rightField"], env)
        out = []
        for p in primary:
            match = next((s for s in secondary if s.get(right) == p.get(left)), None)
            if match is not None:
                out.append({**p, join[1]: match})
        return out

    def _Join_saveFirst(self, args, env):
        return ("saveFirst", self.run(args["matchKey"], env))

    # filters
    def _Filter_intersects(self, args, env):
        return lambda x: True  # every catalogued granule covers the area

    def _DateRange(self, args, env):
        def ms(v):
            if isinstance(v, (int, float)):
                return v
            return dt.datetime.fromisoformat(str(v)).replace(tzinfo=dt.timezone.utc).timestamp() * 1000
        return ms(self.run(args["start"], env)), ms(self.run(args["end"], env))

    def _Filter_dateRangeContains(self, args, env):
        start, end = self.run(args["leftValue"], env)
        field_ = self.run(args["rightField"], env)
        return lambda x: start <= x.get(field_, -1) < end

    def _Filter_equals(self, args, env):
        f, v = self.run(args["leftField"], env), self.run(args["rightValue"], env)
        return lambda x: x.get(f) == v

    def _Filter_greaterThan(self, args, env):
        f, v = self.run(args["leftField"], env), self.run(args["rightValue"], env)
        return lambda x: x.get(f) is not None and x.get(f) > v

    def _Filter_lessThan(self, args, env):
        f, v = self.run(args["leftField"], env), self.run(args["rightValue"], env)
        return lambda x: x.get(f) is not None and x.get(f) < v

    def _Filter_not(self, args, env):
        inner = self.run(args["filter"], env)
        return lambda x: not inner(x)

    def _Filter_listContains(self, args, env):
        values = self.run(args["leftValue"], env)
        f = self.run(args["rightField"], env)
        return lambda x: x.get(f) in values

    # features and values
    def _Feature(self, args, env):
        props = self.run(args["metadata"], env) if "metadata" in args else {}
        return {"type": "Feature", "geometry": None, "properties": props}

    def _Element_get(self, args, env):
        obj = self.run(args["object"], env)
        prop = self.run(args["property"], env)
        if not isinstance(obj, dict):  # an image made from a scene keeps the scene's properties
            obj = _scene_in(args["object"], env)
        if isinstance(obj, dict):
            return obj.get(prop)
        raise Unsupported("Element.get on a non-element")

    def _Dictionary_get(self, args, env):
        d = self.run(args["dictionary"], env)
        return d.get(self.run(args["key"], env))

    def _Image_reduceRegion(self, args, env):
        scene = _scene_in(args["image"], env)
        if scene is None:
            raise Unsupported("reduceRegion of an image from no scene")
        return dict(scene["_stats"])

    def _FeatureCollection(self, args, env):
        return self.run(args["features"], env) if "features" in args else []


def _scene_in(tree: Any, env: dict) -> Optional[dict]:
    for n in walk(tree):
        if n[0] == "arg" and isinstance(env.get(n[1]), dict):
            return env[n[1]]
    return None


def features_answer(value: Any) -> Any:
    """A value:compute result: a list of Features becomes a FeatureCollection."""
    if isinstance(value, list) and all(isinstance(v, dict) and v.get("type") == "Feature" for v in value):
        return {"type": "FeatureCollection", "columns": {},
                "features": [{**f, "id": str(i)} for i, f in enumerate(value)]}
    if isinstance(value, list):
        return [{k: v for k, v in x.items() if not k.startswith("_")} if isinstance(x, dict) else x for x in value]
    return value
