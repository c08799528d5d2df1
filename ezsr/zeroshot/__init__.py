"""Zero-shot recognition: prompt sets, shipped class lists, text classifiers and
classification of event streams.

    build_classifier(model_or_teacher, classnames, templates) -> W [D, K]
    classify(events, classnames, model=None, ...) -> Prediction(labels, scores)
"""

from ezsr.zeroshot.classes import (ImageNetClass, imagenet_classes, n_caltech101_classes,
                                   n_cars_classes, prompt_name, read_class_list)
from ezsr.zeroshot.classifier import (Prediction, build_classifier, classify, encode_events,
                                      select_window)
from ezsr.zeroshot.prompts import (EVENTCLIP_TEMPLATES, OPENAI_IMAGENET_TEMPLATES, PROMPT_SETS,
                                   get_templates)

__all__ = ["ImageNetClass", "imagenet_classes", "n_caltech101_classes", "n_cars_classes",
           "prompt_name", "read_class_list", "Prediction", "build_classifier", "classify",
           "encode_events", "select_window", "EVENTCLIP_TEMPLATES", "OPENAI_IMAGENET_TEMPLATES",
           "PROMPT_SETS", "get_templates"]
