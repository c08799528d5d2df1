"""`ezsr adapt --dataset NAME --root DIR --shots K --seed S -o adapter.pt`: EventCLIP's
few-shot adaptation (learned text features + a transformer adapter across views) on a
frozen model; the adapter file goes to `ezsr eval/classify/stream/export --adapter`."""

from __future__ import annotations

import argparse

EPILOG = """\
what is learned (EventCLIP, arXiv 2306.06354; see docs/fewshot.md):
  text features initialised from the zero-shot classifier, and a 2-layer transformer
  (width 256, 4 heads, FFN 1024) across the views of a recording, blended with the frozen
  image embedding by a residual ratio (0.8 N-Caltech101/N-Cars, 0.95 N-ImageNet). Adam with
  a 5 % warm-up and cosine decay, EventCLIP's learning rate, epochs and batch size per
  dataset (override with --lr/--epochs/--batch-size). The encoder stays frozen: its
  embeddings of the K x classes recordings are computed once, then training is fast on a CPU.
splits:
  drawn by --seed from ROOT/training (N-Caltech101), ROOT/train (N-Cars) or
  ROOT/extracted_train (N-ImageNet), or read from EventCLIP's split file with --shots-file
  (datasets/files/NCaltech101/5shot-repeat=True.pkl etc.: a pickled dict file -> label; only
  plain data is read from it).
"""


def register(sub) -> None:
    from ezsr.commands._common import non_negative_int, positive_float, positive_int
    from ezsr.commands._teacher_args import add_teacher_args, existing_path

    p = sub.add_parser(
        "adapt",
        help="few-shot adaptation (EventCLIP) of a frozen model -> adapter file",
        description="Learn EventCLIP's few-shot adapter from K labelled recordings per class of "
        "a dataset's training folder and write it as an adapter file for `ezsr eval`, "
        "`classify`, `stream` and `export` (--adapter). The model options are those of "
        "`ezsr eval`; the same model must be used with the adapter later.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=["n-imagenet", "mini-n-imagenet", "n-caltech101", "n-cars"],
    )
    p.add_argument("--root", required=True, help="dataset folder (holding the training folder)")
    p.add_argument(
        "--shots",
        type=positive_int,
        required=True,
        metavar="K",
        help="labelled recordings per class (EventCLIP: 1, 2, 4, 8, 16, 20)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split and training (default 0)")
    p.add_argument(
        "--shots-file",
        metavar="F.pkl",
        type=existing_path,
        help="EventCLIP's split file instead of a split drawn by --seed",
    )
    p.add_argument(
        "--split",
        default=None,
        help="training sub-folder of ROOT (default: training, train or extracted_train)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="adapter file to write (default adapter-DATASET-Kshot-sS.pt)",
    )
    p.add_argument(
        "--protocol",
        default="eventclip",
        choices=["eventclip", "ezsr"],
        help="views of a recording: eventclip (up to 10 count windows, EventCLIP "
        "frames; default) or ezsr (one 15k-event window)",
    )
    p.add_argument(
        "--names",
        default=None,
        choices=["clsloc", "clip"],
        help="ImageNet class names: EZSR's map_clsloc names or CLIP's curated ones "
        "(default: clip with the eventclip protocol, clsloc with ezsr)",
    )
    p.add_argument(
        "--mode",
        default=None,
        choices=["crop", "squash"],
        help="EZSR preprocessing variant (ezsr protocol)",
    )
    p.add_argument(
        "--residual",
        type=float,
        default=None,
        help="residual ratio r in out = r f + (1-r) adapter(f) (default: 0.8, 0.95 for N-ImageNet)",
    )
    p.add_argument(
        "--lr", type=positive_float, default=None, help="learning rate (default: EventCLIP's)"
    )
    p.add_argument(
        "--epochs", type=positive_int, default=None, help="epochs (default: EventCLIP's)"
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="recordings per step (default: EventCLIP's)",
    )
    p.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="processes reading and preprocessing files (default: the usable cores "
        "minus one, at most 7; 0 = in the main process)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_teacher_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ezsr.commands._common import output_file
    from ezsr.commands._teacher_args import teacher_from_args
    from ezsr.zeroshot.fewshot import adapt

    if args.residual is not None and not 0.0 <= args.residual <= 1.0:
        raise ValueError(f"--residual must be in [0, 1], got {args.residual}")
    out = args.output or f"adapter-{args.dataset}-{args.shots}shot-s{args.seed}.pt"
    output_file(out, "--output")
    teacher, _ = teacher_from_args(args, quiet=False)
    path, rep = adapt(
        args.dataset,
        args.root,
        args.shots,
        args.seed,
        teacher,
        out,
        protocol=args.protocol,
        split=args.split,
        shots_file=args.shots_file,
        names=args.names,
        templates=args.templates,
        mode=args.mode,
        residual=args.residual,
        lr=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
        workers=args.workers,
    )
    print(
        f"wrote {path}: {rep['dataset']} {rep['shots']}-shot ({rep['split']}, "
        f"{rep['n_train']} recordings), teacher {rep['teacher']}, {rep['epochs']} epochs"
    )
    print(
        f"training-set top-1: zero-shot {100 * rep['train_acc_zero_shot']:.2f} %  ->  adapted "
        f"{100 * rep['train_acc']:.2f} %  (final loss {rep['loss']:.4f})"
    )
    return 0
