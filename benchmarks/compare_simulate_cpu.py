"""Single-thread CPU-time comparison of two source trees of ezsr.simulate (before/after a
change), insensitive to other processes' load: process CPU time, best of N.

    python benchmarks/compare_simulate_cpu.py TREE [--repeat 3]

TREE: a repository root with a built extension (e.g. /work/main). Run it alternately for the
two trees. Cases as bench_simulate.py: 100 frames of the 640x480 translating texture
(frames_to_events) and 2 images of the 224x224 saccade histogram (images_to_histogram).
"""

import argparse
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("tree", help="repository root whose ezsr to import")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    root = os.path.abspath(args.tree)
    sys.path[:0] = [root, os.path.join(root, "benchmarks")]
    import torch

    torch.set_num_threads(1)
    from bench_simulate import texture, translating_frames

    import ezsr.simulate as S

    if not S.__file__.startswith(root):
        raise SystemExit(f"ezsr imported from {S.__file__}, not from {root}")
    frames = translating_frames(texture(480, 1040, contrast=0.6), 101)
    ts = torch.arange(101) * 1000
    imgs = torch.stack(
        [texture(224, 224, 0.8, seed=s, cell=8).expand(3, 224, 224) for s in range(2)]
    )

    def cpu(fn):
        best = float("inf")
        for _ in range(args.repeat):
            c = time.process_time()
            fn()
            best = min(best, time.process_time() - c)
        return best

    a = cpu(lambda: S.frames_to_events(frames, ts))
    b = cpu(lambda: S.images_to_histogram(imgs, motion="saccade"))
    print(
        f"{root}: 1 thread, CPU s: frames_to_events 100 frames {a:.3f} "
        f"({100 / a:.0f} frames/CPU-s); images_to_histogram 2 images {b:.3f} "
        f"({2 / b:.2f} images/CPU-s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
