"""The real N-ImageNet window as padded graph inputs (shared by the export tests)."""

import torch
from conftest import shared_file


def real_rows(start: int = 26502, n: int = 15000):
    from ezsr import io

    win = io.read(shared_file("n_imagenet/ezsr_test_event.npz")).window(start, n)
    return [
        win.x.int()[None],
        win.y.int()[None],
        win.p.int()[None],
        torch.ones(1, len(win), dtype=torch.bool),
    ]
