"""`python -m landslide_core experiment thesis-grid --data DIR [--data-extra DIR2] [--epochs N]`.

Trains the thesis's four architectures x two band sets (x the combined dataset when
``--data-extra`` is given), each run through the run queue, and writes ``thesis_grid.csv`` and
``thesis_grid.md`` (Tables 6-7 with the thesis's figures beside ours) into ``--out``.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

from ..errors import InputError
from ..progress import CancelToken


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="re-run the thesis's experiments (its Tables 6 and 7)")
    sub = p.add_subparsers(dest="experiment_command", metavar="EXPERIMENT")
    g = sub.add_parser(
        "thesis-grid", help="train 4 architectures x 2 band sets (x 2 datasets) and tabulate against the thesis",
        description="Trains Unet (vanilla), ResNet34, MobileNetV2 and Segformer (U-Net encoders, Table 5) on 14 "
                    "and 6 bands with the thesis's recipe (min-max to 0-1, WCE-Dice, Adam, StepLR, early stopping), "
                    "on --data (L4S, Table 6) and, with --data-extra, on both merged (L4S + L4S-PE, Table 7). Each "
                    "run goes through the run queue; finished runs are reused when started again.")
    g.add_argument("--data", required=True, help="the Landslide4Sense folder (Table 6)")
    g.add_argument("--data-extra", dest="data_extra", help="your own dataset (L4S-PE), merged with --data (Table 7)")
    g.add_argument("--epochs", type=int, default=100, help="at most this many epochs per run (default 100)")
    g.add_argument("--out", help="folder for thesis_grid.csv, thesis_grid.md and the merged data "
                                 "(default: <runs folder>/thesis-grid)")
    g.add_argument("--scaling", default="minmax", choices=("minmax", "l4s", "both"),
                   help="input scaling: minmax (the thesis's, default), l4s, or both (twice the rows)")
    g.add_argument("--batch-size", type=int, default=16, dest="batch_size")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    g.add_argument("--workers", type=int, default=2)
    g.add_argument("--arch-options", dest="arch_options",
                   help='JSON: architecture -> options, e.g. \'{"unet_vanilla": {"base_channels": 16}}\'')
    g.set_defaults(func=cmd_thesis_grid)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_thesis_grid(args) -> int:
    from ..experiments.grid import CSV_FILE, MD_FILE, GridSettings, run_grid
    from ..training import runs

    options = {}
    if args.arch_options:
        try:
            options = json.loads(args.arch_options)
        except json.JSONDecodeError as exc:
            raise InputError(f"--arch-options is not valid JSON ({exc.msg}).",
                             'Write it as {"unet_vanilla": {"base_channels": 16}}.') from None
        if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
            raise InputError("--arch-options must map architecture names to JSON objects of options.")
    scalings = ("minmax", "l4s") if args.scaling == "both" else (args.scaling,)
    settings = GridSettings(data=args.data, data_extra=args.data_extra, epochs=args.epochs, scalings=scalings,
                            batch_size=args.batch_size, seed=args.seed, device=args.device, workers=args.workers,
                            arch_options=options)
    out = Path(args.out) if args.out else runs.runs_root() / "thesis-grid"
    cancel = CancelToken()
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, lambda *_: cancel.cancel())
        except ValueError:
            pass
    last = [""]

    def progress(done: int, total: int, stage: str) -> None:
        head = stage.split(": epoch")[0]
        if head != last[0]:
            print(head, file=sys.stderr, flush=True)
            last[0] = head

    train_log = logging.getLogger("landslide_core.training")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    train_log.addHandler(handler)
    propagate, train_log.propagate = train_log.propagate, False
    try:
        rows = run_grid(settings, out, progress=progress, cancel=cancel)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        train_log.removeHandler(handler)
        train_log.propagate = propagate
    print((out / MD_FILE).read_text())
    failed = [r for r in rows if r.state != "finished"]
    print(f"written: {out / CSV_FILE} and {out / MD_FILE}", file=sys.stderr)
    for r in failed:
        print(f"  {r.dataset_label}, {r.bands}, {r.architecture}: {r.state} {r.message}", file=sys.stderr)
    return 0
