"""`ezsr heatmap FILE --text "a cat" -o map.png`: where the image tower's patch tokens agree
with a text, over the event picture (EZSR README's "Heatmap w.r.t. text")."""

from __future__ import annotations


def register(sub) -> None:
    from ezsr.commands._common import add_window_args, positive_int
    from ezsr.commands._teacher_args import add_teacher_args

    p = sub.add_parser(
        "heatmap",
        help="text heatmap: where patch tokens agree with a text, over the events",
        description="Draw the cosine between each projected patch token of the image tower and "
        "the text embedding, upsampled over the gray EZSR input frame of a 15,000-event window "
        "(jet colours, scaled per map from its min to its max). The PNG holds the frame and "
        "one overlay per --text. Needs a ViT tower: --checkpoint/--model of a CLIP or EVA-CLIP "
        "model, or a trained student.pt (the offline default teacher has no patch tokens).",
    )
    p.add_argument("file", help="event file (any format ezsr.io reads)")
    p.add_argument(
        "--text",
        action="append",
        required=True,
        metavar="TEXT",
        help='text to locate, e.g. "a cat" (repeat for several panels)',
    )
    p.add_argument(
        "-o", "--output", default="heatmap.png", help="PNG to write (default heatmap.png)"
    )
    add_window_args(p, "first event of the window (default: deterministic choice)")
    p.add_argument(
        "--mode",
        default="crop",
        choices=["crop", "squash"],
        help="EZSR preprocessing (default crop)",
    )
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the colours (default 0.5)")
    p.add_argument(
        "--scale",
        type=positive_int,
        default=2,
        help="enlarge the picture this many times (default 2)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="also print the cosine grids as JSON {text: [[...], ...]}",
    )
    add_teacher_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from PIL import Image

    from ezsr import io
    from ezsr.commands._common import output_file, student_file
    from ezsr.commands._teacher_args import teacher_from_args
    from ezsr.zeroshot.heatmap import heatmap_pictures

    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {args.alpha}")
    output_file(args.output, "--output")
    student_file(args)
    if not args.checkpoint:
        raise ValueError(
            "heatmaps need a ViT image tower: give --checkpoint (with --model) of a "
            "CLIP/EVA-CLIP model or a trained student.pt; the offline default "
            "teacher has no patch tokens"
        )
    events = io.read(args.file)
    teacher, name = teacher_from_args(args, quiet=args.json)
    hm = heatmap_pictures(
        events,
        teacher,
        args.text,
        window=args.window,
        start=args.start,
        mode=args.mode,
        alpha=args.alpha,
        scale=args.scale,
    )
    Image.fromarray(hm.picture).save(args.output)
    g = hm.maps.shape[-1]
    if args.json:
        print(
            json.dumps(
                {
                    t: [[round(float(v), 5) for v in row] for row in m]
                    for t, m in zip(hm.texts, hm.maps)
                }
            )
        )
    else:
        print(
            f"wrote {args.output} ({hm.picture.shape[1]}x{hm.picture.shape[0]}, {g}x{g} patch "
            f"grid, model {name})"
        )
        for t, m in zip(hm.texts, hm.maps):
            i = int(m.argmax())
            print(
                f"  {t!r}: cosine {float(m.min()):.3f} .. {float(m.max()):.3f}, highest at "
                f"patch row {i // g}, column {i % g}"
            )
    return 0
