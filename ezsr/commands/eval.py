"""`ezsr eval --dataset NAME --root DIR`: zero-shot accuracy on an event dataset."""

from __future__ import annotations

import json

DESCRIPTION = """\
Evaluate zero-shot recognition on a dataset folder.

layouts:
  n-imagenet, mini-n-imagenet  ROOT/extracted_val/<wnid>/*.npz
                               (robustness sets: ROOT/extracted_val_<variant>, see --variant)
  n-caltech101                 ROOT/testing/<class>/*.npy (or *.bin)
  n-cars                       ROOT/test/{background,cars}/*.npy (or *.dat)
  (a ROOT holding the class folders directly works too)

protocols:
  ezsr       one window per sample (the centred 15,000 events, or with --window random
             EZSR's published random 13,000-17,000-event window), EZSR preprocessing,
             the 80 OpenAI templates, map_clsloc names
  eventclip  EventCLIP's protocol: events centred in the dataset's canvas, frames of
             20k/30k/70k events, 10/1/2 views per sample for N-Caltech101/N-Cars/N-ImageNet,
             logits averaged, 'a point cloud image of a {}', CLIP's curated ImageNet names

Each sample's input depends only on its own file and --seed, never on --batch-size, the
file order or --workers.
"""

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

    from ezsr.commands._common import non_negative_int, positive_int
    from ezsr.commands._teacher_args import add_teacher_args, existing_path
    from ezsr.zeroshot.evaluate import N_IMAGENET_VARIANTS

    p = sub.add_parser(
        "eval",
        help="zero-shot top-1/top-5 accuracy on N-ImageNet, N-Caltech101 or N-Cars",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=["n-imagenet", "mini-n-imagenet", "n-caltech101", "n-cars"],
    )
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument(
        "--split", default=None, help="sub-folder to evaluate (default: the test/val split)"
    )
    p.add_argument(
        "--variant",
        default=None,
        choices=N_IMAGENET_VARIANTS,
        help="n-imagenet only: evaluate N-ImageNet's robustness validation set "
        "ROOT/extracted_val_VARIANT (camera motion mode_*, brightness_*) "
        "instead of extracted_val",
    )
    p.add_argument("--protocol", default="ezsr", choices=["ezsr", "eventclip"])
    p.add_argument(
        "--names",
        default=None,
        choices=["clsloc", "clip"],
        help="ImageNet class names: EZSR's map_clsloc names or CLIP's curated ones "
        "(default: clip for --protocol eventclip, clsloc otherwise)",
    )
    p.add_argument(
        "--mode",
        default=None,
        choices=["crop", "squash"],
        help="EZSR preprocessing (default: squash for N-ImageNet, crop otherwise)",
    )
    p.add_argument(
        "--coord-rounding",
        default="exact",
        choices=["exact", "n_imagenet", "ezsr_fp16"],
        help="how the squash mode maps sensor coordinates to the model's size: exact "
        "floor (default); n_imagenet: N-ImageNet's float64 product, truncated; "
        "ezsr_fp16: EZSR's published N-ImageNet evaluation (float32 product cast "
        "to float16, truncated; with --window random it reproduces that input "
        "bit for bit). Needs --mode squash (the N-ImageNet default)",
    )
    p.add_argument(
        "--window",
        default="fixed",
        choices=["fixed", "random"],
        help="--protocol ezsr: fixed = the centred 15,000-event window "
        "(deterministic, default); random = EZSR's published protocol, "
        "13,000-17,000 events at a random start, drawn per sample from --seed",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of --window random and of EventCLIP's random view picks (per "
        "sample: the seed and the file's path inside the split)",
    )
    p.add_argument(
        "--features",
        default="raw",
        choices=["raw", "unit"],
        help="--protocol eventclip with a CLIP model: average the logits of the raw "
        "image features (EventCLIP's zero-shot classifier, default) or of unit "
        "embeddings",
    )
    p.add_argument(
        "--image-preprocess",
        default="pil",
        choices=["pil", "teacher"],
        help="--protocol eventclip: CLIP's own transform of the uint8 frame (PIL "
        "bicubic resize, centre crop; EventCLIP's path, in the loader workers; "
        "default) or the teacher's encode_image on the frame",
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="windows per forward pass")
    p.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="processes reading and preprocessing files (default: the usable cores "
        "minus one, at most 7; 0 = in the main process)",
    )
    p.add_argument(
        "--limit-per-class",
        type=positive_int,
        default=None,
        metavar="N",
        help="evaluate at most N files per class",
    )
    p.add_argument(
        "--split-file",
        metavar="F",
        type=existing_path,
        help='seen/unseen classes: JSON {"seen": [...], "unseen": [...]} -> seen, '
        "unseen and harmonic-mean accuracy",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        nargs="?",
        const="-",
        help="write the report as JSON to PATH (or stdout with no PATH); it lists "
        "every sample's file with its top-5 labels and scores",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bars (text classifier and evaluation)",
    )
    p.add_argument(
        "--adapter",
        metavar="PATH",
        default=None,
        type=existing_path,
        help="an adapter file of `ezsr adapt`: few-shot accuracy of the same model "
        "with EventCLIP's adapter (use the --protocol it was trained with)",
    )
    add_teacher_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ezsr.commands._common import output_file
    from ezsr.commands._teacher_args import teacher_from_args
    from ezsr.zeroshot.evaluate import evaluate, load_dataset, make_protocol, read_split_file

    output_file(args.json, "--json")
    preprocess_options(args)  # checked before the dataset and the model are loaded
    if args.protocol == "eventclip" and args.window != "fixed":
        raise ValueError(
            "--window random is EZSR's protocol; --protocol eventclip has its own views"
        )
    ds = load_dataset(
        args.dataset,
        args.root,
        args.split,
        args.protocol,
        args.names,
        args.limit_per_class,
        variant=args.variant,
    )
    if args.split_file:  # checked before the model is loaded and the files are read
        read_split_file(args.split_file, ds.folders, ds.classnames)
    adapter = None
    if args.adapter:  # checked against the dataset's classes before the model is loaded
        from ezsr.zeroshot.fewshot import load_adapter, resolve_classes, warn_protocol

        adapter, meta = load_adapter(args.adapter, args.device)
        warn_protocol(meta, args.protocol, args.adapter)
        resolve_classes(
            meta,
            ds.classnames,
            args.adapter,
            f"evaluate with the --protocol ({meta['train'].get('protocol', '?')}) "
            "and --names the adapter was trained with",
        )
    teacher, _ = teacher_from_args(args, quiet=args.json == "-")
    protocol = make_protocol(
        args.dataset,
        args.protocol,
        args.mode,
        window=args.window,
        seed=args.seed,
        out_size=getattr(teacher, "image_size", 224),
        features=args.features,
        image_preprocess=args.image_preprocess,
        **preprocess_options(args),
    )
    if adapter is not None:
        from ezsr.zeroshot.fewshot import check_features

        check_features(adapter, teacher, protocol, args.adapter)
    rep = evaluate(
        ds,
        teacher,
        protocol,
        args.batch_size,
        args.templates,
        split_file=args.split_file,
        progress=not args.no_progress,
        device=args.device,
        workers=args.workers,
        adapter=adapter,
    )
    if args.protocol == "ezsr":
        rep["coord_rounding"] = args.coord_rounding
    if args.variant:
        rep["variant"] = args.variant
    if args.adapter:
        rep["adapter"] = args.adapter
    if args.json == "-":
        print(json.dumps(rep, indent=1))
        return 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=1)
    print(
        f"{rep['dataset']}{' ' + rep['variant'] if 'variant' in rep else ''} "
        f"({rep['protocol']}, {rep['n']} samples, {rep['classes']} classes, "
        f"teacher {rep['teacher']})"
    )
    print(
        f"top-1 {100 * rep['top1']:.2f} %   top-5 {100 * rep['top5']:.2f} %   "
        f"mean per-class {100 * rep['mean_per_class']:.2f} %"
    )
    if "harmonic" in rep:
        print(
            f"seen {100 * rep['seen']:.2f} %   unseen {100 * rep['unseen']:.2f} %   "
            f"harmonic {100 * rep['harmonic']:.2f} %"
        )
    return 0


def preprocess_options(args) -> dict:
    """Extra keyword arguments of ezsr.ops.ezsr_preprocess chosen on the command line."""
    rounding = getattr(args, "coord_rounding", "exact")
    if rounding == "exact":
        return {}
    squash = args.mode == "squash" or (
        args.mode is None
        and args.protocol == "ezsr"
        and args.dataset in ("n-imagenet", "mini-n-imagenet")
    )
    if args.protocol != "ezsr" or not squash:
        raise ValueError(
            f"--coord-rounding {rounding} applies to --protocol ezsr with --mode "
            f"squash (the N-ImageNet default) only"
        )
    return {"coord_rounding": rounding}
