"""CLI commands of the review loop: chips, finetune, compare-models.

    chips --result RESULT_DIR --out DATA_DIR [--background-per-object 1] [--val-share 0.2] [--json]
    finetune --chips DATA_DIR --init-from MODEL [--epochs 10] [--lr 0.0001] [--generated-per-chip 1]
             [--negatives confounders|natural] [--device auto] [--foreground]
    compare-models --chips DATA_DIR [--model MODEL ...] [--json]
"""
from __future__ import annotations

import json
import signal
import sys

from ..progress import CancelToken


def register(subparsers) -> None:
    c = subparsers.add_parser(
        "chips", help="cut Landslide4Sense patches around the reviewed objects of an analysis",
        description="Patches (128 x 128 x 14 'img', 'mask', L4S units) from the analysis's own scenes around every "
                    "confirmed, rejected and drawn object, plus background from reviewed-clean areas. The dataset "
                    "grows across analyses without duplicates; running again with the same reviews adds nothing.")
    c.add_argument("--result", required=True, metavar="RESULT_DIR", help="the analysis folder (with done.json)")
    c.add_argument("--out", required=True, metavar="DATA_DIR", help="the chips dataset (created or added to)")
    c.add_argument("--background-per-object", type=float, default=1.0, dest="background_per_object",
                   help="background patches per object patch (default 1)")
    c.add_argument("--val-share", type=float, default=0.2, dest="val_share",
                   help="share of patch groups held out for validation (default 0.2; kept for groups already there)")
    c.add_argument("--json", action="store_true", help="print what was done as JSON")
    c.set_defaults(func=cmd_chips)

    f = subparsers.add_parser(
        "finetune", help="fine-tune a model on reviewed chips (plus generated patches), in the run queue",
        description="Starts a training run from MODEL's weights on the chips' training side and a mix of generated "
                    "patches, validated on the chips' held-out share; its model card records the parent, the chips "
                    "and the scores before and after on the held-out chips.")
    f.add_argument("--chips", required=True, metavar="DATA_DIR", help="the chips dataset (from `chips`)")
    f.add_argument("--init-from", required=True, dest="init_from", metavar="MODEL",
                   help="the model to start from: a card path or a model's name (e.g. default)")
    f.add_argument("--epochs", type=int, default=10)
    f.add_argument("--lr", type=float, default=1e-4)
    f.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    f.add_argument("--patience", type=int, default=5)
    f.add_argument("--generated-per-chip", type=float, default=1.0, dest="generated_per_chip",
                   help="generated patches mixed in per training chip (default 1; 0 = none)")
    f.add_argument("--negatives", choices=("confounders", "natural"), default="confounders",
                   help="negatives of the generated patches (default confounders)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--device", default="auto")
    f.add_argument("--foreground", action="store_true", help="train in this process and wait for the end")
    f.set_defaults(func=cmd_finetune)

    m = subparsers.add_parser("compare-models", help="score models on the held-out share of reviewed chips")
    m.add_argument("--chips", required=True, metavar="DATA_DIR")
    m.add_argument("--model", action="append", dest="models", metavar="MODEL",
                   help="a card path or a model's name (repeat; default: every model in the models folder)")
    m.add_argument("--device", default="cpu")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_compare_models)


def _cancel_on_signals(cancel: CancelToken) -> dict:
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, lambda *_: cancel.cancel())
        except ValueError:  # not the main thread
            pass
    return previous


def cmd_chips(args) -> int:
    from ..review.chips import make_chips

    cancel = CancelToken()
    previous = _cancel_on_signals(cancel)
    try:
        report = make_chips(args.result, args.out, args.background_per_object, args.val_share, cancel=cancel)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0


def cmd_finetune(args) -> int:
    from ..review.finetune import start_finetune
    from ..training.trainer import resolve_device

    resolve_device(args.device)  # an unusable device is refused before any work
    cancel = CancelToken()
    previous = _cancel_on_signals(cancel)
    try:
        out = start_finetune(args.init_from, args.chips, args.epochs, args.lr, args.generated_per_chip, args.negatives,
                             args.batch_size, args.patience, args.device, args.seed, foreground=args.foreground,
                             cancel=cancel)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.foreground:
        print(out.run_dir)
        print(f"{out.state}: {out.message}; best checkpoint {out.best_checkpoint}", file=sys.stderr)
        return 130 if out.state == "stopped" else 0
    print(out.run_dir)
    print(f"fine-tuning started in the background (pid {out.pid}); follow it with: python -m landslide_core runs",
          file=sys.stderr)
    return 0


def cmd_compare_models(args) -> int:
    from ..checkpoint import resolve_model_path, scan_models
    from ..review.finetune import held_out_scores
    from ..training.promote import default_models_dir

    paths = [resolve_model_path(m) for m in args.models] if args.models else \
        [m.path for m in scan_models(default_models_dir()) if m.usable]
    rows = held_out_scores(args.chips, paths, args.device)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':30} {'F1':>6} {'prec.':>6} {'recall':>6} {'IoU':>6} {'patches':>7}  parent")
    for r in rows:
        if r.get("error"):
            print(f"{r['model'][:30]:30} {r['error']}")
            continue
        print(f"{r['model'][:30]:30} {r['f1']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f} {r['iou']:6.3f} "
              f"{r['patches']:7d}  {r.get('parent') or ''}")
    return 0
