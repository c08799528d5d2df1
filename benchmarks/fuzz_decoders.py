"""Coverage-guided fuzzing of every event-file decoder with atheris (libFuzzer for Python).

Targets
  decode:KIND  one block of bytes through the C++ block decoder (torch.ops.ezsr.decode_events)
               and the Python reference (ezsr/io/_decode.py); they must agree exactly
               (events, state, bytes consumed, error code and offset). The first byte picks
               the sensor size given to the decoder (none, 64x48, 1280x720, 2048x2048).
  file:FORMAT  the bytes as a whole file of that format through ezsr.io.read: it returns
               Events or raises EventFileError, nothing else. When it reads, the bounded-
               memory paths must agree with it: ezsr.io.summarize (small chunks) gives the
               same facts, and iter_chunks by count and by time gives the same events.

Coverage: the ezsr.io Python modules (readers, headers, the reference decoders) are
instrumented, so libFuzzer is guided by the reference decoder's branches, which follow the
format's structure; the C++ decoders are not instrumented (no clang/libFuzzer build here)
and are checked by the differential comparison. Crashes (an uncaught exception, a
disagreement, a signal) are written to OUT/crashes/TARGET/ and stop the run.

  python benchmarks/fuzz_decoders.py --list
  python benchmarks/fuzz_decoders.py file:aedat4 --seconds 60 --out /tmp/fuzz
  python benchmarks/fuzz_decoders.py all --seconds 30 --out /tmp/fuzz   # one process each
  python benchmarks/fuzz_decoders.py file:raw --minimise --out /tmp/fuzz  # merge the corpus

Seeds: small files written by ezsr.io.write and hand-made records; with --shared-seeds also
the first 4 KiB of the recordings in ../shared/data/events (a local campaign only: a corpus
grown from them holds bytes of those recordings and is not committed). A minimised corpus,
made without --shared-seeds, is kept in tests/fixtures/fuzz/
corpus/TARGET and every input that ever crashed in tests/fixtures/fuzz/crashes/TARGET;
tests/test_fuzz_decoders.py replays both through check_one(). docs/reliability.md has the
campaign's numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "fuzz"
SHARED = Path(os.environ.get("EZSR_SHARED", ROOT.parent / "shared")) / "data" / "events"
SENSORS = [(0, 0), (64, 48), (1280, 720), (2048, 2048), (640, 480)]
SUFFIX = {
    "raw": ".raw",
    "evt2": ".raw",
    "evt21": ".raw",
    "evt21_legacy": ".raw",
    "evt3": ".raw",
    "dat": ".dat",
    "aedat2": ".aedat",
    "aedat3": ".aedat3",
    "aedat4": ".aedat4",
    "bin": ".bin",
    "npy": ".npy",
    "npz": ".npz",
    "hdf5": ".h5",
    "es": ".es",
}


def targets() -> list[str]:
    from ezsr.io import _decode, known_formats

    return [f"decode:{k}" for k in _decode.KINDS] + [f"file:{f}" for f in known_formats()]


# ----------------------------------------------------------------------------- checks
def check_decode(kind: str, data: bytes) -> None:
    import numpy as np

    from ezsr.io import _decode

    sensor = SENSORS[data[0] % len(SENSORS)] if data else (0, 0)
    body = data[1:]
    a = _decode.decode(body, kind, None, *sensor, backend="cpp")
    b = _decode.decode(body, kind, None, *sensor, backend="reference")
    assert (a.error, a.error_offset) == (b.error, b.error_offset), (
        f"{kind}: error C++ {(a.error, a.error_offset)} != reference {(b.error, b.error_offset)}"
    )
    assert 0 <= a.consumed <= len(body)
    assert a.consumed == b.consumed, f"{kind}: consumed {a.consumed} != {b.consumed}"
    for k in ("x", "y", "t", "p"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), f"{kind}: column {k} differs"
    # the state after the records decoded, also when a later record is an error
    assert np.array_equal(a.state, b.state), f"{kind}: state {a.state} != {b.state}"


def check_file(fmt: str, data: bytes, workdir: str) -> None:
    import warnings

    import torch

    from ezsr import io

    path = os.path.join(workdir, "input" + SUFFIX.get(fmt, ""))
    with open(path, "wb") as f:
        f.write(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ev, used = io.read(path, format=fmt, return_format=True)
        except io.EventFileError:
            return
        # the bounded-memory paths agree with the whole read (or raise the same kind)
        try:
            s = io.summarize(path, format=fmt, chunk_events=7)
        except io.EventFileError as exc:
            raise AssertionError(f"summarize raised but read did not: {exc}") from None
        want = {
            "format": used,
            "count": len(ev),
            "width": ev.width,
            "height": ev.height,
            "t_first": ev.t_first,
            "t_last": ev.t_last,
            "on": ev.on,
            "off": ev.off,
        }
        if s.get("type") == "atis":  # .es ATIS: count and time range over every event
            assert s["change_detection"] == len(ev), "summarize: change detections != read"
            for k in ("count", "t_first", "t_last"):  # (threshold crossings too), by design
                want.pop(k)
        got = {k: s.get(k) for k in want}  # a format may add facts of its own (.es: type)
        assert got == want, f"summarize {got} != read {want}"
        if len(ev):
            parts = list(io.iter_chunks(path, n_events=5, format=fmt))
            assert torch.equal(torch.cat([c.t for c in parts]), ev.t), "iter_chunks(n) != read"
            dt = max(1, (ev.t_last - ev.t_first) // 3 + 1)
            parts = list(io.iter_chunks(path, dt_us=dt, format=fmt))
            assert torch.equal(torch.cat([c.t for c in parts]), ev.t), "iter_chunks(dt) != read"
            assert all(c.t_last - c.t_first < dt for c in parts if len(c))


def check_one(target: str, data: bytes, workdir: str | None = None) -> None:
    """Run one input through a target's check; raises on a crash."""
    kind, name = target.split(":", 1)
    if kind == "decode":
        return check_decode(name, data)
    if workdir is None:
        with tempfile.TemporaryDirectory() as d:
            return check_file(name, data, d)
    return check_file(name, data, workdir)


# ------------------------------------------------------------------------------ seeds
def seeds(target: str, shared: bool = False) -> list[bytes]:
    """Small valid inputs of the target's format (a block body with a sensor byte first for
    decode targets; whole files, and the first 4 KiB of real recordings, for file targets)."""
    import numpy as np

    from ezsr import Events, io
    from ezsr.io import _decode, _encode

    rng = np.random.default_rng(0)
    n = 40
    ev = Events(
        rng.integers(0, 60, n).astype(np.int16),
        rng.integers(0, 40, n).astype(np.int16),
        np.sort(rng.integers(0, 5000, n)),
        rng.integers(0, 2, n).astype(np.uint8),
        64,
        48,
    )
    kind, name = target.split(":", 1)
    out = []
    if kind == "decode":
        ws = _decode.WORD_SIZE[name]
        bodies = {
            "evt2": lambda: _encode.encode_evt2(ev),
            "evt21": lambda: _encode.encode_evt2(ev, wide=True),
            "evt21_legacy": lambda: (
                np.frombuffer(_encode.encode_evt2(ev, wide=True), "<u4")
                .reshape(-1, 2)[:, ::-1]
                .tobytes()
            ),
            "evt3": lambda: _encode.encode_evt3(ev),
            "dat": lambda: _encode.encode_dat(ev).split(b"% end\n", 1)[1][2:],
            "aedat2_dvs128": lambda: _encode.encode_aedat2(ev).rsplit(b"\r\n", 1)[1],
        }
        if name in bodies:
            out.append(bytes([1]) + bodies[name]())
        out.append(bytes([1]) + rng.integers(0, 256, 16 * ws, dtype=np.uint8).tobytes())
        return out
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("s" + SUFFIX.get(name, ""))
        try:
            io.write(p, ev, format=name)
            out.append(p.read_bytes())
        except (ValueError, KeyError, ImportError):
            pass  # not writable: real recordings only
    if name == "aedat3":  # no writer: an empty packet, then a polarity packet of 3 events
        import struct

        pol = b"".join(
            struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | v, t)
            for x, y, p, v, t in ((5, 6, 1, 1, 10), (7, 8, 0, 0, 11), (9, 1, 0, 1, 12))
        )
        out.append(
            b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
            + struct.pack("<hhiiiiii", 1, 0, 8, 4, 0, 0, 0, 0)
            + struct.pack("<hhiiiiii", 1, 0, 8, 4, 2, 3, 3, 2)
            + pol
        )
    for f in sorted(SHARED.glob("*/*")) if shared and SHARED.is_dir() else []:
        if SUFFIX.get(name) == f.suffix.lower() and "reference" not in f.name:
            out.append(f.read_bytes()[:4096])
    return out


# ---------------------------------------------------------------------------- driver
def fuzz_in_process(target: str, args: list[str]) -> None:
    import atheris
    import numpy  # noqa: F401 - not instrumented
    import torch  # noqa: F401

    with atheris.instrument_imports(include=["ezsr.io"]):
        import ezsr.io  # noqa: F401
        from ezsr.io import _decode, _stream, _summary  # noqa: F401
    workdir = tempfile.mkdtemp(
        prefix="ezsr-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )

    def one(data: bytes) -> None:
        check_one(target, data, workdir)

    # libFuzzer re-runs argv[0] for -merge: the per-target wrapper made by run_target
    atheris.Setup([os.environ.get("EZSR_FUZZ_SELF", sys.argv[0]), *args], one)
    atheris.Fuzz()


def run_target(
    target: str, seconds: int, out: Path, minimise: bool, shared_seeds: bool = False
) -> dict:
    """libFuzzer in a child process for one target; returns its figures."""
    safe = target.replace(":", "_")
    corpus = out / "corpus" / safe
    crashes = out / "crashes" / safe
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    kept = FIXTURES / "corpus" / safe
    seed_dirs = [str(corpus)] + ([str(kept)] if kept.is_dir() else [])
    for i, s in enumerate(seeds(target, shared_seeds)):
        (corpus / f"seed-{i}").write_bytes(s)
    if minimise:
        merged = out / "minimised" / safe
        merged.mkdir(parents=True, exist_ok=True)
        flags = ["-merge=1", str(merged), *seed_dirs]
    else:
        flags = [
            f"-max_total_time={seconds}",
            "-max_len=8192",
            "-timeout=20",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={crashes}/",
            "-print_final_stats=1",
            *seed_dirs,
        ]
    wrapper = out / f"run_{safe}.sh"  # an executable libFuzzer can re-run (merge)
    wrapper.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" '
        f'--child {target} -- "$@"\n'
    )
    wrapper.chmod(0o755)
    t0 = time.time()
    r = subprocess.run(
        [str(wrapper), *flags],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "EZSR_FUZZ_SELF": str(wrapper)},
    )
    log = r.stdout + r.stderr
    (out / f"{safe}.log").write_text(log)
    stats = {
        "target": target,
        "seconds": round(time.time() - t0, 1),
        "rc": r.returncode,
        "crashes": sorted(p.name for p in crashes.iterdir()),
    }
    for line in log.splitlines():
        if line.startswith("stat::number_of_executed_units:"):
            stats["inputs"] = int(line.split(":")[-1])
        if line.startswith("stat::peak_rss_mb:"):
            stats["peak_rss_mb"] = int(line.split(":")[-1])
    stats["corpus"] = len(list(corpus.iterdir()))
    return stats


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        target, rest = argv[1], argv[3:]
        fuzz_in_process(target, rest)
        return 0
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("target", nargs="?", help="decode:KIND, file:FORMAT or all (--list)")
    ap.add_argument("--list", action="store_true", help="print the targets")
    ap.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    ap.add_argument(
        "--out",
        default=str(Path(tempfile.gettempdir()) / "ezsr-fuzz"),
        help="corpus, crashes and logs go here",
    )
    ap.add_argument(
        "--minimise",
        action="store_true",
        help="merge OUT/corpus/TARGET (and the kept one) into OUT/minimised/TARGET",
    )
    ap.add_argument(
        "--shared-seeds",
        action="store_true",
        help="also seed from the first 4 KiB of the ../shared recordings (local campaigns only: "
        "do not commit a corpus grown from them)",
    )
    ap.add_argument(
        "--replay",
        nargs="*",
        default=None,
        help="run these files through the target's check (no fuzzing)",
    )
    a = ap.parse_args(argv)
    if a.list or not a.target:
        print("\n".join(targets()))
        return 0
    if a.replay is not None:
        for f in a.replay:
            check_one(a.target, Path(f).read_bytes())
            print(f"ok {f}")
        return 0
    import json

    out = Path(a.out)
    todo = targets() if a.target == "all" else [a.target]
    results = []
    for t in todo:
        s = run_target(t, a.seconds, out, a.minimise, a.shared_seeds)
        results.append(s)
        print(json.dumps(s), flush=True)
    (out / "summary.json").write_text(json.dumps(results, indent=2))
    return 1 if any(s["crashes"] for s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
