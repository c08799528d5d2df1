"""`ezsr eval --dataset NAME --root DIR`: zero-shot accuracy on an event dataset."""

from __future__ import annotations

import json


EPILOG = """\
text classifier cache:
  The class names x prompt templates are embedded once per model (N-Caltech101 with the 80
  OpenAI templates: 8,080 prompts, about half a minute on a CPU; N-ImageNet: 80,000), with a
  progress bar, and the resulting text classifier is cached in $EZSR_CACHE/classifiers
  (default ~/.cache/ezsr/classifiers), keyed by the model and its checkpoint file (name,
  size, date), the templates and the class names; later runs read it back. Models with
  random weights are not cached. Clear it with `rm -r ~/.cache/ezsr/classifiers`.
"""


def register(sub) -> None:
    import argparse

    from ezsr.commands._common import positive_int
    from ezsr.commands._teacher_args import add_teacher_args, existing_path
    p = sub.add_parser(
        "eval", help="zero-shot top-1/top-5 accuracy on N-ImageNet, N-Caltech101 or N-Cars",
        description="Evaluate zero-shot recognition on a dataset folder. Layouts: "
        "n-imagenet/mini-n-imagenet ROOT/extracted_val/<wnid>/*.npz; n-caltech101 "
        "ROOT/testing/<class>/*.npy; n-cars ROOT/test/{background,cars}/*.npy (or ROOT "
        "holding the class folders). Windows are deterministic. Protocols: ezsr (one "
        "15k-event window, 80 OpenAI templates) and eventclip (up to 10 count windows, "
        "logits averaged, 'a point cloud image of a {}').",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   choices=["n-imagenet", "mini-n-imagenet", "n-caltech101", "n-cars"])
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--split", default=None, help="sub-folder to evaluate (default: the test/val split)")
    p.add_argument("--protocol", default="ezsr", choices=["ezsr", "eventclip"])
    p.add_argument("--names", default="clsloc", choices=["clsloc", "clip"],
                   help="ImageNet class names: EZSR's map_clsloc names or CLIP's curated ones")
    p.add_argument("--mode", default=None, choices=["crop", "squash"],
                   help="EZSR preprocessing (default: squash for N-ImageNet, crop otherwise)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="windows per forward pass")
    p.add_argument("--limit-per-class", type=positive_int, default=None, metavar="N",
                   help="evaluate at most N files per class")
    p.add_argument("--split-file", metavar="F", type=existing_path,
                   help='seen/unseen classes: JSON {"seen": [...], "unseen": [...]} -> seen, '
                        "unseen and harmonic-mean accuracy")
    p.add_argument("--json", metavar="PATH", nargs="?", const="-",
                   help="write the report as JSON to PATH (or stdout with no PATH)")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bars (text classifier and evaluation)")
    add_teacher_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ezsr.commands._common import output_file
    from ezsr.commands._teacher_args import teacher_from_args
    from ezsr.zeroshot.evaluate import evaluate, load_dataset, read_split_file

    output_file(args.json, "--json")
    ds = load_dataset(args.dataset, args.root, args.split, args.protocol, args.names,
                      args.limit_per_class)
    if args.split_file:  # checked before the model is loaded and the files are read
        read_split_file(args.split_file, ds.folders, ds.classnames)
    teacher, _ = teacher_from_args(args, quiet=args.json == "-")
    rep = evaluate(ds, teacher, args.protocol, args.batch_size, args.templates, args.mode,
                   args.split_file, progress=not args.no_progress, device=args.device)
    if args.json == "-":
        print(json.dumps(rep, indent=1))
        return 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=1)
    print(f"{rep['dataset']} ({rep['protocol']}, {rep['n']} samples, {rep['classes']} classes, "
          f"teacher {rep['teacher']})")
    print(f"top-1 {100 * rep['top1']:.2f} %   top-5 {100 * rep['top5']:.2f} %   "
          f"mean per-class {100 * rep['mean_per_class']:.2f} %")
    if "harmonic" in rep:
        print(f"seen {100 * rep['seen']:.2f} %   unseen {100 * rep['unseen']:.2f} %   "
              f"harmonic {100 * rep['harmonic']:.2f} %")
    return 0
