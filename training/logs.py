"""Run logs: tqdm progress bar (samples/s, data-wait fraction), CSV, optional TensorBoard.

`<out_dir>/log.csv` has one row per logged step: step plus every metric seen so far
(loss, global, scalar, text, cos, lr, samples_per_s, data_wait, eval_*); a resumed run appends.
data_wait = time spent waiting for the DataLoader (incl. the host->device copy call) / wall
time, over the last logging interval. TensorBoard events go to `<out_dir>/tb` when the
`tensorboard` package is installed (it is optional); otherwise the CSV alone is written.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger("training")

COLUMNS = [
    "step",
    "loss",
    "global",
    "scalar",
    "text",
    "cos",
    "lr",
    "samples_per_s",
    "data_wait",
    "eval_top1",
    "eval_teacher_top1",
    "eval_cos",
    "eval_chance",
    "real_top1",
    "real_top5",
    "real_n",
]


class Logger:
    def __init__(
        self,
        out: Path,
        enabled: bool = True,
        tensorboard: bool = True,
        progress: bool = True,
        total: int = 0,
        start_step: int = 0,
    ):
        self.enabled = enabled
        self.bar = self.tb = self._csv = None
        self._post: dict = {}
        if not enabled:
            return
        path = Path(out) / "log.csv"
        new = not path.exists() or start_step == 0
        self._file = open(path, "w" if new else "a", newline="")
        self._csv = csv.DictWriter(self._file, COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(out) / "tb"))
            except ImportError:
                log.info("tensorboard is not installed: logging to %s only", path)
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=start_step, desc="train", unit="step", dynamic_ncols=True
            )

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def log(self, step: int, row: dict) -> None:
        if not self.enabled:
            return
        self._csv.writerow({"step": step, **row})
        self._file.flush()
        if self.tb is not None:
            for k, v in row.items():
                self.tb.add_scalar(k, v, step)
        if self.bar is not None:
            post = self._post
            if "loss" in row:
                post.update(
                    loss=f"{row['loss']:.4f}",
                    sps=f"{row['samples_per_s']:.1f}",
                    wait=f"{100 * row['data_wait']:.0f}%",
                )
            if "eval_top1" in row:
                post["zs_top1"] = f"{row['eval_top1']:.3f}"
            self.bar.set_postfix(post, refresh=False)
        elif "loss" in row:
            log.info(
                "step %d loss %.4f %.1f samples/s data-wait %.0f%%",
                step,
                row["loss"],
                row["samples_per_s"],
                100 * row["data_wait"],
            )
        if "eval_top1" in row:
            msg = (
                f"step {step}: held-out zero-shot top-1 {row['eval_top1']:.3f} (teacher on RGB "
                f"{row['eval_teacher_top1']:.3f}, chance {row['eval_chance']:.3f}), "
                f"cos {row['eval_cos']:.3f}"
            )
            (self.bar.write if self.bar is not None else log.info)(msg)
        if "real_top1" in row:
            msg = (
                f"step {step}: real recordings zero-shot top-1 {row['real_top1']:.3f}, top-5 "
                f"{row['real_top5']:.3f} ({row['real_n']} files)"
            )
            (self.bar.write if self.bar is not None else log.info)(msg)

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        self._file.close()
