"""`ezsr classify FILE --classes "a,b,c"`: zero-shot labels for an event file."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    from ezsr.commands._common import add_window_args, positive_int
    from ezsr.commands._teacher_args import add_teacher_args

    p = sub.add_parser(
        "classify",
        help="name what an event recording shows, among given class names",
        description="Zero-shot classification of one event file: a deterministic 15,000-event "
        "window (reference EZSR preprocessing) is embedded and compared with text embeddings "
        "of the class names. Without --checkpoint the offline default teacher is used "
        "(needs `pip install ezsr[offline]`).",
    )
    p.add_argument("file", help="event file (any format ezsr.io reads)")
    names = p.add_mutually_exclusive_group()
    names.add_argument("--classes", help='comma-separated class names, e.g. "cat,dog,car"')
    names.add_argument(
        "--classes-file", metavar="F", help="file with class names (one a line or comma-separated)"
    )
    p.add_argument(
        "--top", type=positive_int, default=5, help="how many labels to print (default 5)"
    )
    add_window_args(p, "first event of the window (default: deterministic choice)")
    p.add_argument("--json", action="store_true", help='print {"labels": [...], "scores": [...]}')
    p.add_argument(
        "--adapter",
        metavar="PATH",
        default=None,
        help="an adapter file of `ezsr adapt` (few-shot adaptation of the same model); "
        "its class names are used, --classes may be left out",
    )
    add_teacher_args(p)
    p.set_defaults(func=run)


def class_list(args) -> list[str]:
    from ezsr.zeroshot.classes import read_class_list, read_classes

    names = []
    if args.classes and args.classes.strip(" ,"):  # 'a,b,c' or @FILE
        names += read_classes(args.classes, "--classes")
    if args.classes_file:
        names += read_class_list(args.classes_file)
    if not names:
        raise ValueError('empty class list: give --classes "a,b,c" or --classes-file F')
    if len(set(names)) == 1:
        print(
            f"warning: only one class ({names[0]!r}): it always wins with score 1.0; give two "
            "or more class names to compare",
            file=sys.stderr,
        )
    return names


def run(args) -> int:
    from ezsr import io
    from ezsr.commands._common import student_file
    from ezsr.commands._teacher_args import teacher_from_args
    from ezsr.zeroshot import classify

    adapter = None
    if args.adapter:  # its class names, or the given ones when they are the same
        from ezsr.zeroshot.fewshot import load_adapter, resolve_classes

        adapter = load_adapter(args.adapter)
        given = class_list(args) if args.classes or args.classes_file else None
        names = resolve_classes(adapter[1], given, args.adapter)
    else:
        names = class_list(args)
    student_file(args)  # refuses options a student.pt does not use, before any reading
    events = io.read(args.file)
    if len(events) < 10:
        raise ValueError(f"{args.file}: {len(events)} events; at least 10 are needed to classify")
    if args.window > len(events):  # EZSR classifies a short stream whole: say so
        from ezsr.commands._common import bound_window

        args.window = bound_window(args.window, len(events), args.file)
    teacher, _ = teacher_from_args(args, quiet=False)
    if adapter is not None:
        from ezsr.zeroshot.fewshot import classify_adapted

        pred = classify_adapted(
            events,
            teacher,
            *adapter,
            top=args.top,
            window=args.window,
            start=args.start,
            path=args.adapter,
        )
    else:
        pred = classify(
            events,
            names,
            teacher,
            templates=args.templates or "openai",
            top=args.top,
            window=args.window,
            start=args.start,
        )
    if args.json:
        print(json.dumps(pred.as_dict()))
    else:
        width = max(len(n) for n in pred.labels)
        for n, s in zip(pred.labels, pred.scores):
            print(f"{n:<{width}}  {s:.4f}")
    return 0
