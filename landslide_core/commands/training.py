"""CLI commands: train, evaluate, promote, runs."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from ..bands import SCALINGS
from ..errors import InputError
from ..fileio import ensure_writable_file
from ..progress import CancelToken


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model on Landslide4Sense-style data (detached by default)",
        description="Train with the thesis recipe: (1-alpha)*WCE(beta) + alpha*Dice, Adam, StepLR(30, 0.1), "
                    "early stopping. By default the run starts in a process of its own and this command "
                    "prints its folder; a second run on the same device waits in a queue.")
    p.add_argument("--data", help="Landslide4Sense folder (img/ and mask/, or TrainData/ValidData/TestData)")
    p.add_argument("--arch", help="architecture (default unet_vanilla)")
    p.add_argument("--bands", help="band set: l4s14, thesis6 or surface10 (default l4s14)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float)
    p.add_argument("--alpha", type=float, help="Dice weight: L = (1-alpha)*WCE + alpha*Dice (default 0.5)")
    p.add_argument("--beta", type=float, help="weight of landslide pixels in the WCE (default 5)")
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better val loss (default 10)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--workers", type=int, help="threads preparing batches ahead (default 2; 0 = none)")
    p.add_argument("--arch-kwargs", dest="arch_kwargs", help='JSON, e.g. \'{"base_channels": 16}\'')
    p.add_argument("--val-share", type=float, dest="val_share")
    p.add_argument("--split-file", dest="split_file", help='JSON {"train": [...], "val": [...]} of patch names')
    p.add_argument("--max-train-patches", type=int, dest="max_train_patches")
    p.add_argument("--no-augment", action="store_false", dest="augment", default=None)
    p.add_argument("--skip-bad", action="store_const", const="skip", dest="on_bad",
                   help="skip unreadable or malformed files with a warning instead of stopping")
    p.add_argument("--cache", choices=("auto", "memory", "memmap"))
    p.add_argument("--scaling", choices=SCALINGS,
                   help="model input after the L4S units: l4s (default, as they are) or minmax (per band to 0-1 "
                        "with min and max of the training split, stored in the model card; the thesis's)")
    p.add_argument("--init-from", dest="init_from", metavar="MODEL",
                   help="fine-tune: start from this model's weights (a card path or a model's name; same "
                        "architecture, options, bands and scaling); its card records the lineage")
    p.add_argument("--radiometric-jitter", type=float, dest="radiometric_jitter",
                   help="radiometric jitter of training batches (0 off, 1 the spread of Sentinel-2 dates)")
    p.add_argument("--run-dir", dest="run_dir", help="the run folder (default: a new one under $LANDSLIDE_RUNS_DIR or ./runs)")
    p.add_argument("--config", help="JSON file of settings; command-line options override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="resume the run in RUN_DIR with its saved settings")
    p.add_argument("--foreground", action="store_true", help="train in this process and wait for the end")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # the detached child
    p.set_defaults(func=cmd_train)

    e = subparsers.add_parser("evaluate", help="score a model on labelled patches (Table 6 of the thesis)")
    e.add_argument("--model", required=True,
                   help="model card (.json) or weights (.safetensors), or the name of a model in models/")
    e.add_argument("--data", required=True, help="Landslide4Sense folder with masks (TestData used if present)")
    e.add_argument("--out", help="write the table: .json, .csv or text")
    e.add_argument("--batch-size", type=int, default=16, dest="batch_size")
    e.add_argument("--device", default="auto")
    e.add_argument("--skip-bad", action="store_const", const="skip", default="stop", dest="on_bad")
    e.set_defaults(func=cmd_evaluate)

    pr = subparsers.add_parser("promote", help="copy a run's best checkpoint into models/ with its card")
    pr.add_argument("run_dir", metavar="RUN_DIR")
    pr.add_argument("--name", help="model name (default: the run id)")
    pr.add_argument("--models-dir", dest="models_dir",
                    help="target folder (default: $LANDSLIDE_MODELS_DIR, else the project's models/)")
    pr.add_argument("--force", action="store_true", help="replace a model of that name / promote a running run")
    pr.set_defaults(func=cmd_promote)

    r = subparsers.add_parser("runs", help="list training runs, or stop one")
    r.add_argument("--root", help="runs folder (default $LANDSLIDE_RUNS_DIR or ./runs)")
    r.add_argument("--stop", metavar="RUN_DIR", help="ask this run to stop (it keeps its last checkpoint)")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=cmd_runs)


def _config_from_args(args):
    from ..training import TrainConfig
    from ..training.config import parse_arch_kwargs

    if args.resume:
        from ..training.runs import read_config

        config = read_config(args.resume)
        if config is None:
            raise InputError(f"{args.resume} holds no run to resume (no config.json).", "Give a run folder.")
        if args.run_dir and Path(args.run_dir).resolve() != Path(args.resume).resolve():
            raise InputError("--resume and --run-dir name different folders.", "Give only --resume RUN_DIR.")
        args.run_dir = args.resume
    elif args.config:
        config = TrainConfig.from_file(args.config)
    else:
        config = TrainConfig()
    for name in ("data", "arch", "bands", "epochs", "batch_size", "lr", "alpha", "beta", "patience", "seed",
                 "device", "workers", "val_share", "split_file", "max_train_patches", "augment", "on_bad", "cache", "scaling",
                 "init_from", "radiometric_jitter"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(config, "data_dir" if name == "data" else name, value)
    if args.arch_kwargs:
        config.arch_kwargs = parse_arch_kwargs(args.arch_kwargs)
    if not config.data_dir:
        raise InputError("No data folder was given.", "Add --data DIR (a folder with img/ and mask/).")
    config.data_dir = str(Path(config.data_dir).expanduser().resolve())
    if config.init_from and not args.resume:
        from ..checkpoint import read_card, resolve_model_path

        config.init_from = str(resolve_model_path(config.init_from))  # a missing model is refused now
        parent = read_card(config.init_from)
        for name, value in (("arch", parent.architecture), ("bands", parent.band_set), ("scaling", parent.scaling)):
            if getattr(args, name, None) is None and not args.config:  # the parent's, unless given
                setattr(config, name, value)
        if not args.arch_kwargs and not args.config:
            config.arch_kwargs = {k: v for k, v in parent.arch_kwargs.items() if k != "bands"}
    return config.validate()


def cmd_train(args) -> int:
    from ..training import runs
    from ..training.trainer import train

    config = _config_from_args(args)
    if not args.foreground:
        launched = runs.launch_detached(config, args.run_dir)
        print(launched.run_dir)
        print(f"started in the background (pid {launched.pid}); follow it with: "
              f"python -m landslide_core runs  (log: {launched.run_dir / runs.LOG_FILE})", file=sys.stderr)
        return 0
    run_dir = Path(args.run_dir) if args.run_dir else runs.new_run_dir(config)
    cancel = CancelToken()
    train_log = logging.getLogger("landslide_core.training")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    if not args.quiet:  # the detached child's output already goes to train.log
        print(run_dir, flush=True)
        train_log.addHandler(handler)
    propagate, train_log.propagate = train_log.propagate, False
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):  # a kill or Ctrl-C stops between batches
        try:
            previous[sig] = signal.signal(sig, lambda *_: cancel.cancel())
        except ValueError:  # not the main thread
            pass
    try:
        summary = train(config, run_dir, cancel=cancel, clear_stop=not args.quiet)
    finally:
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)
        train_log.removeHandler(handler)
        train_log.propagate = propagate
    print(f"{summary.state}: {summary.message}; best epoch {summary.best_epoch} "
          f"(val loss {summary.best_val_loss}); best checkpoint {summary.best_checkpoint}", file=sys.stderr)
    return 130 if summary.state == "stopped" else 0


def cmd_evaluate(args) -> int:
    from ..training.evaluate import evaluate, format_table, write_results
    from ..training.trainer import resolve_device

    from ..training.promote import resolve_model

    if args.out:  # checked now, not after the evaluation
        ensure_writable_file(args.out)
    result = evaluate(resolve_model(args.model), args.data, args.batch_size, str(resolve_device(args.device)),
                      args.on_bad)
    print(format_table([result]))
    if args.out:
        print(f"written: {write_results([result], args.out)}", file=sys.stderr)
    return 0


def cmd_promote(args) -> int:
    from ..training.promote import promote

    card = promote(args.run_dir, args.name, args.models_dir, args.force)
    print(card)
    return 0


def cmd_runs(args) -> int:
    from ..training import runs

    if args.stop:
        status = runs.request_stop(args.stop)
        print(f"stop requested for {args.stop} (was {status.state})" if status.state in ("queued", "running")
              else f"{args.stop} is not going ({status.state}); nothing to stop")
        return 0
    infos = runs.list_runs(args.root)
    rows = [i.row() for i in infos]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no runs in {args.root or runs.runs_root()}")
        return 0
    cols = ("run", "state", "arch", "bands", "epochs", "best_epoch", "val_loss", "f1", "iou")
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))  # noqa: E731
    widths = {c: max(len(c), *(len(fmt(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(fmt(r[c]).ljust(widths[c]) for c in cols))
    return 0
