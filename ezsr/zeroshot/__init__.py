"""Zero-shot recognition: prompt sets, shipped class lists, text classifiers,
classification of event streams, the zero-shot modules (head, EZSR preprocessing graph,
image / event classifiers) and the one model loader.

    build_classifier(model_or_teacher, classnames, templates) -> W [D, K]
    classify(events, classnames, model=None, ...) -> Prediction(labels, scores)
    load_teacher(ModelSpec(...)) -> LoadedTeacher(teacher, name, notes)
    load_zero_shot(ModelSpec(...), classes) -> ZeroShot(module, encoder, classifier, scale, ...)
"""

from ezsr.zeroshot.classes import (
    ImageNetClass,
    imagenet_classes,
    n_caltech101_classes,
    n_cars_classes,
    prompt_name,
    read_class_list,
    read_classes,
)
from ezsr.zeroshot.classifier import (
    Prediction,
    build_classifier,
    classify,
    encode_events,
    select_window,
)
from ezsr.zeroshot.loader import ModelSpec, ZeroShot, load_teacher, load_zero_shot
from ezsr.zeroshot.prompts import (
    EVENTCLIP_TEMPLATES,
    OPENAI_IMAGENET_TEMPLATES,
    PROMPT_SETS,
    get_templates,
)

__all__ = [
    "ImageNetClass",
    "imagenet_classes",
    "n_caltech101_classes",
    "n_cars_classes",
    "prompt_name",
    "read_class_list",
    "read_classes",
    "ModelSpec",
    "ZeroShot",
    "load_teacher",
    "load_zero_shot",
    "Prediction",
    "build_classifier",
    "classify",
    "encode_events",
    "select_window",
    "EVENTCLIP_TEMPLATES",
    "OPENAI_IMAGENET_TEMPLATES",
    "PROMPT_SETS",
    "get_templates",
]
