"""The architecture as tests: layers point down only, no import cycle, the library imports
no application, one top-level package in the distribution, typed model configs, one logit
scale and one loader (see docs/design.md).

Layers: core (ezsr, events, io, ops, simulate) < ezsr.models < ezsr.zeroshot <
ezsr.streaming, ezsr.training, ezsr.export < ezsr.commands (and ezsr.cli).
"""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # train_standins, test_training's helpers
from test_training import make_trainer, tiny_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# installed package -> source folder (pyproject's [tool.setuptools.package-dir])
SOURCES = {
    "ezsr": ROOT / "ezsr",
    "ezsr.training": ROOT / "training",
    "ezsr.export": ROOT / "export",
}
LAYERS = {
    "models": 1,
    "zeroshot": 2,
    "streaming": 3,
    "training": 3,
    "export": 3,
    "commands": 4,
    "cli": 4,
    "__main__": 4,
}  # anything else under ezsr: core (0)
APPS = ("ezsr.streaming", "ezsr.training", "ezsr.export", "ezsr.commands")
# edges between the applications (streaming, training, export) allowed: none. The runners of
# exported files live with the exporter (ezsr.export.runners); the CLI hands them to the stream.
SIDEWAYS: set[tuple[str, str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the distribution: name -> (source file, is a package __init__)."""
    out = {}
    for pkg, base in SOURCES.items():
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).parts
            if "__pycache__" in rel or (pkg == "ezsr" and rel[0] in ("training", "export")):
                continue
            parts = list(rel[:-1]) + ([] if rel[-1] == "__init__.py" else [rel[-1][:-3]])
            if any(not p.isidentifier() for p in parts):
                continue
            out[".".join([pkg, *parts])] = (path, rel[-1] == "__init__.py")
    return out


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks (annotations only: never run)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def _imports(name: str, path: Path, is_pkg: bool, known, type_only: bool = True) -> set[str]:
    """Absolute names every import statement of the file names (module level and inside
    functions alike: a lazy import is a dependency too; `if TYPE_CHECKING:` imports only
    with type_only)."""
    pkg = name if is_pkg else name.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text(), str(path))
    skip = set() if type_only else _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return out


def _graph(type_only: bool = True) -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """(edges between ezsr modules, imports of the old top-level names) of the source tree.
    An edge to the importer's own parent package is left out: Python imports the parent
    first anyway, so it is no cycle. type_only=False leaves out the `if TYPE_CHECKING:`
    imports (what runs)."""
    mods = _modules()
    edges, toplevel = {}, []
    for name, (path, is_pkg) in mods.items():
        deps = set()
        for target in _imports(name, path, is_pkg, mods, type_only):
            if target.split(".")[0] in ("training", "export"):
                toplevel.append((name, target))
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                deps.add(target)
        edges[name] = deps
    return edges, toplevel


def _layer(name: str) -> tuple[int, str]:
    parts = name.split(".")
    sub = parts[1] if len(parts) > 1 else ""
    return LAYERS.get(sub, 0), sub


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_walk_sees_the_whole_distribution():
    edges, _ = _graph()
    for name in (
        "ezsr",
        "ezsr.events",
        "ezsr.models.clip",
        "ezsr.zeroshot.loader",
        "ezsr.streaming.runners",
        "ezsr.training.trainer",
        "ezsr.export.onnx_export",
        "ezsr.commands.stream",
    ):
        assert name in edges, name
    assert "ezsr.zeroshot.graph" in edges["ezsr.export.onnx_export"]
    assert "ezsr.zeroshot.loader" in edges["ezsr.commands.stream"]


def test_no_import_cycle_among_ezsr_modules():
    """No cycle among the imports that run; annotation-only imports (under TYPE_CHECKING)
    may point back, but must still respect the layers (the next test)."""
    edges, _ = _graph(type_only=False)
    assert _cycles(edges) == []


def test_layers_point_down_only():
    edges, toplevel = _graph()
    assert toplevel == [], "old top-level names (use ezsr.training / ezsr.export)"
    bad = []
    for name, deps in sorted(edges.items()):
        (lv, sub) = _layer(name)
        for dep in sorted(deps):
            (dv, dsub) = _layer(dep)
            if dv > lv or (
                dv == lv == LAYERS["streaming"] and dsub != sub and (sub, dsub) not in SIDEWAYS
            ):
                bad.append(f"{name} -> {dep}")
    assert bad == []


def test_importing_the_library_imports_no_application():
    code = (
        "import sys, ezsr, ezsr.events, ezsr.io, ezsr.ops, ezsr.simulate, ezsr.models, "
        "ezsr.zeroshot\n"
        f"print(sorted(m for m in sys.modules if m.startswith({APPS!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_distribution_has_one_top_level_package(tmp_path):
    """setuptools' own build_py (what a wheel holds, without compiling the extension)
    writes every Python file and data file under ezsr/ and nothing beside it."""
    out = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "absent from the `packages` configuration" not in out.stderr  # a folder not listed
    assert sorted(os.listdir(tmp_path)) == ["ezsr"]
    built = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    for pkg, base in SOURCES.items():
        for src in base.rglob("*.py"):
            rel = src.relative_to(base)
            if "__pycache__" in rel.parts or (
                pkg == "ezsr" and rel.parts[0] in ("training", "export")
            ):
                continue
            assert "/".join(pkg.split(".") + list(rel.parts)) in built, src
    for data in (
        "ezsr/training/configs/tiny_cpu.yaml",
        "ezsr/models/configs/ViT-B-16.json",
        "ezsr/models/data/imagenet_sorted.tsv",
        "ezsr/zeroshot/data/n_cars.txt",
    ):
        assert data in built


# ------------------------------------------------------------------ typed model configs
def test_model_config_unknown_or_missing_key_is_an_error_naming_it():
    from ezsr.models import get_config
    from ezsr.models.clip import CLIP, CLIPConfig, build_vision

    cfg = get_config("test-tiny")
    typed = CLIPConfig.from_dict(cfg)
    assert (
        typed.text.width == cfg["text"]["width"]
        and typed.vision.patch_size == cfg["vision"]["patch_size"]
    )
    bad = get_config("test-tiny")
    bad["text"]["widht"] = 8
    with pytest.raises(ValueError, match="unknown key 'text.widht'"):
        CLIP(bad, "test-tiny")
    bad = get_config("test-tiny")
    bad["vision"]["rope"] = True  # an EVA key on an OpenAI tower
    with pytest.raises(ValueError, match="unknown key 'vision.rope'"):
        build_vision(bad["vision"], 8)
    bad = get_config("test-tiny")
    del bad["text"]["heads"]
    with pytest.raises(ValueError, match="missing key 'text.heads'"):
        CLIP(bad, "test-tiny")
    bad = get_config("test-tiny")
    bad["projection"] = 3
    with pytest.raises(ValueError, match="unknown key 'projection'"):
        CLIP(bad, "test-tiny")


# ------------------------------------------------------------------ one logit scale
class _Tok:
    def __call__(self, texts):
        return torch.ones(len(texts), 4, dtype=torch.long)


def test_one_logit_scale_read_from_the_clip_model():
    from ezsr.models import CLIPTeacher, Teacher, create_model, logit_scale

    clip = create_model("test-tiny")
    with torch.no_grad():
        clip.logit_scale.fill_(math.log(50.0))
    teacher = CLIPTeacher(clip, _Tok())
    assert isinstance(teacher, Teacher)
    assert teacher.logit_scale == pytest.approx(50.0, rel=1e-5)
    assert logit_scale(clip) == logit_scale(teacher) == teacher.logit_scale
    with torch.no_grad():
        clip.logit_scale.fill_(math.log(400.0))  # CLIP clamps the multiplier at 100
    assert logit_scale(teacher) == 100.0
    assert logit_scale(object()) == 100.0  # no CLIP model: OpenAI CLIP's 100


def test_the_trainer_takes_the_teachers_logit_scale(image_root, tmp_path):
    """The trainer's text loss uses the teacher's multiplier (it used 100 whatever the
    teacher: CLIPTeacher had no logit_scale)."""
    import train_standins as sti

    class Teacher50(sti.TinyTeacher):
        logit_scale = 50.0

    tr = make_trainer(tiny_cfg(image_root, tmp_path, "loss.text_weight=0.5"), teacher=Teacher50())
    assert tr.logit_scale == 50.0 and tr.loss_fn.logit_scale == 50.0


# ------------------------------------------------------------------ one loader
def test_loader_errors_name_fields_or_the_callers_options():
    from ezsr.zeroshot import ModelSpec, load_teacher

    with pytest.raises(ValueError, match=r"^model/clip_checkpoint need checkpoint"):
        load_teacher(ModelSpec(model="ViT-B-16"))
    flags = {"model": "--model", "checkpoint": "--checkpoint", "clip_checkpoint": "--base"}
    with pytest.raises(ValueError, match=r"^--model/--base need --checkpoint"):
        load_teacher(ModelSpec(model="ViT-B-16", option_names=flags))


def test_type_checking_imports_are_told_apart(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\nimport ezsr.ops\n"
        "if TYPE_CHECKING:\n    from ezsr.models import clip\n"
    )
    known = {"ezsr.ops": None, "ezsr.models": None, "ezsr.models.clip": None}
    runs = _imports("ezsr.m", src, False, known, type_only=False)
    assert "ezsr.ops" in runs and "ezsr.models" not in runs
    assert {"ezsr.ops", "ezsr.models", "ezsr.models.clip"} <= _imports("ezsr.m", src, False, known)
