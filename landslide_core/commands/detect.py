"""CLI command `detect`: landslides in one scene (--image) or the change between two (--pre/--post)."""
from __future__ import annotations

import argparse
import contextlib
import signal
from typing import Optional

from ..errors import Cancelled, InputError
from ..i18n import user_error
from ..predictor import DEFAULT_OVERLAP_PX, DEFAULT_WINDOW_PX
from .stage_bars import StageBars


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect landslides in a scene GeoTIFF, or their change between a pre and a post scene",
        description="Detect landslides in one scene GeoTIFF (--image), or in two dates and their change "
                    "(--pre and --post). Writes COGs, GeoJSON, CSV and summary.json into --out.",
    )
    p.add_argument("--image", metavar="SCENE.tif", help="scene GeoTIFF (single-date detection)")
    p.add_argument("--pre", metavar="PRE.tif", help="scene GeoTIFF before the event")
    p.add_argument("--post", metavar="POST.tif", help="scene GeoTIFF after the event")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    add_detection_arguments(p)
    p.set_defaults(func=run)


def add_detection_arguments(p: argparse.ArgumentParser) -> None:
    """The model and detection settings shared by ``detect`` and ``batch`` (read by
    :func:`options_from_args`)."""
    p.add_argument("--model", metavar="PATH|NAME",
                   help="model card (.json) or a model's name in models/ (e.g. 'index', the training-free "
                        "spectral detector); default: models/default.json")
    p.add_argument("--window", metavar="N", type=int, default=None,
                   help=f"window size in pixels (default {DEFAULT_WINDOW_PX}); a window covering the scene "
                        "with --overlap 0 runs it in one pass")
    p.add_argument("--overlap", metavar="F", type=float, default=None,
                   help=f"overlap between windows as a fraction of the window, 0 <= F < 0.5 "
                        f"(default {DEFAULT_OVERLAP_PX} px)")
    p.add_argument("--threshold", metavar="T", type=float, default=None,
                   help="decision threshold 0-1 (default: the model card's)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where to run the model (default: cuda when available, else cpu)")
    p.add_argument("--grow-ratio", metavar="R", type=float, default=None,
                   help="hysteresis: objects seeded at the threshold grow over pixels at R x the threshold "
                        "(0 < R <= 1; default 0.6; 1 = a single cut)")
    p.add_argument("--rule", metavar="NAME=VALUE", action="append", default=[],
                   help="set an object rule, e.g. --rule min_slope_deg=20 or --rule max_rectangularity=off "
                        "(repeatable; rules: " + ", ".join(_rule_names()) + ")")
    p.add_argument("--no-rules", action="store_true", help="switch every terrain and shape rule off")
    p.add_argument("--change-setting", metavar="NAME=VALUE", action="append", default=[],
                   help="set how change is decided per object, e.g. --change-setting min_ndvi_drop=0.2 "
                        "(repeatable; settings: " + ", ".join(_change_names()) + ")")
    p.add_argument("--no-coregister", action="store_true",
                   help="do not estimate and correct the shift between the two dates")


def _rule_names() -> list[str]:
    import dataclasses

    from ..objects import ObjectRules

    return [f.name for f in dataclasses.fields(ObjectRules)]


def _change_names() -> list[str]:
    import dataclasses

    from ..change import ChangeSettings

    return [f.name for f in dataclasses.fields(ChangeSettings)]


def _settings(pairs: list[str], base: dict, flag: str) -> dict:
    """NAME=VALUE pairs onto ``base``: numbers, or off/none to switch a rule off."""
    out = dict(base)
    for item in pairs:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise InputError(f"{flag} {item!r} is not NAME=VALUE.", f"Write e.g. {flag} min_slope_deg=20.")
        if name not in out:
            raise InputError(f"{flag} {name}: no such setting.", f"Known: {', '.join(out)}.")
        if value.lower() in ("off", "none", ""):
            out[name] = None
            continue
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"{flag} {name}={value}: not a number.", "Give a number, or off.") from None
        out[name] = int(number) if isinstance(base[name], int) and not isinstance(base[name], bool) else number
    return out


def options_from_args(args: argparse.Namespace):
    from ..detection import DetectionOptions

    window = DEFAULT_WINDOW_PX if args.window is None else int(args.window)
    if window < 16:
        raise InputError(f"--window {window} is too small.", "Use at least 16 pixels, e.g. --window 1024.")
    if args.overlap is None:
        overlap_px = min(DEFAULT_OVERLAP_PX, (window - 1) // 2)
    else:
        if not 0.0 <= args.overlap < 0.5:
            raise InputError(f"--overlap {args.overlap} is outside 0 <= F < 0.5.",
                             "Give the overlap as a fraction of the window, e.g. --overlap 0.03.")
        overlap_px = int(round(args.overlap * window))
        if 2 * overlap_px >= window:
            overlap_px = (window - 1) // 2
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise user_error(InputError, "errors.threshold_range", value=args.threshold)
    from ..change import ChangeSettings
    from ..objects import ObjectRules

    rules = (ObjectRules.off() if args.no_rules else ObjectRules()).to_dict()
    rules = ObjectRules.from_dict(_settings(args.rule, rules, "--rule"))
    change = ChangeSettings.from_dict(_settings(args.change_setting, ChangeSettings().to_dict(), "--change-setting"))
    options = DetectionOptions(window_px=window, overlap_px=overlap_px, threshold=args.threshold, device=args.device,
                               rules=rules, change=change, coregister=not args.no_coregister)
    if args.grow_ratio is not None:
        options.grow_ratio = args.grow_ratio
    return options.validate()


def run(args: argparse.Namespace) -> int:
    from ..detection import detect_pair, detect_scene

    single = args.image is not None
    pair = args.pre is not None or args.post is not None
    if single == pair:
        raise user_error(InputError, "errors.detect_image_or_pair")
    if pair and (args.pre is None or args.post is None):
        raise user_error(InputError, "errors.detect_need_both")
    options = options_from_args(args)
    bars = StageBars(unit="win", units={"change": "step"})
    with _terminate_as_cancel():
        try:
            if single:
                summary = detect_scene(args.image, args.out, args.model, options, progress=bars)
            else:
                summary = detect_pair(args.pre, args.post, args.out, args.model, options, progress=bars)
        finally:
            bars.close()
    _print_summary(summary, args.out)
    return 0


@contextlib.contextmanager
def _terminate_as_cancel():
    """SIGTERM (a kill, a job scheduler's stop) cancels like Ctrl-C: the exception unwinds
    through the clean-up, so no working file is left and --out stays as it was."""
    def on_term(signum, frame):  # noqa: ARG001 - the signal handler signature
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not interrupt the clean-up
        raise Cancelled("Stopped by a termination signal (SIGTERM); the output folder was left as it was.")

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_summary(summary: dict, out: Optional[str]) -> None:
    from ..i18n import t

    if summary["kind"] == "scene":
        print(t("cli.detect.scene_summary", count=summary["landslide_count"], ha=f"{summary['landslide_ha']:.2f}",
                threshold=f"{summary['threshold']:.2f}", min_area=summary["min_area_ha"],
                not_assessable_ha=f"{summary['not_assessable_ha']:.2f}",
                seconds=f"{summary['timings_s']['total']:.1f}", device=summary["prediction"]["device"]))
    else:
        c = summary["change"]
        print(t("cli.detect.pair_summary", count=c["new_count"], new_ha=f"{c['new_ha']:.2f}",
                persisting_ha=f"{c['persisting_ha']:.2f}", vanished_ha=f"{c['vanished_ha']:.2f}",
                not_assessable_ha=f"{c['not_assessable_ha']:.2f}", threshold=f"{summary['threshold']:.2f}",
                min_area=summary["min_area_ha"]))
        if summary.get("reprojected"):
            print(t("cli.detect.reprojected"))
        shift = summary.get("coregistration")
        if shift and shift.get("applied"):
            print(t("cli.detect.coregistered", rows=f"{shift['rows_px']:+.2f}", cols=f"{shift['cols_px']:+.2f}"))
        for warning in summary.get("warnings") or []:
            print(t("cli.detect.warning", warning=warning))
    replaced = summary.get("replaced") or []
    if replaced:
        print(t("cli.detect.replaced", count=len(replaced), folder=out, files=", ".join(replaced)))
    print(t("cli.detect.outputs", folder=out))
    if summary["kind"] == "pair":
        print(t("cli.detect.next", folder=out))
