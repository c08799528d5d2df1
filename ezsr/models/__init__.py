"""CLIP-family models in plain torch, checkpoint loading, event encoders and teachers.

create_model(name, pretrained=PATH)        -> CLIP (encode_image, encode_text, embed_dim, logit_scale)
tokenize(texts)                            -> [K, 77] int64
create_event_encoder(name, in_chans=3, pretrained=None) -> nn.Module [B, C, S, S] -> [B, D]
create_teacher("offline" | name, pretrained=PATH) -> a Teacher (encode_image, encode_text, embed_dim, logit_scale)
logit_scale(model_or_teacher)              -> float, the zero-shot logit multiplier
load_student(PATH)                         -> (student nn.Module, its metadata): `ezsr train`'s student.pt
"""

from ezsr.models.checkpoints import CheckpointError, LoadReport, read_state_dict
from ezsr.models.clip import CLIP
from ezsr.models.factory import (
    EventEncoder,
    adapt_patch_weight,
    create_event_encoder,
    create_model,
    get_config,
    list_models,
)
from ezsr.models.student import ProjectedEncoder, load_student, save_student
from ezsr.models.teachers import CLIPTeacher, ConSETeacher, Teacher, create_teacher, logit_scale
from ezsr.models.tokenizer import Tokenizer, load_tokenizer, tokenize

__all__ = [
    "CLIP",
    "CheckpointError",
    "LoadReport",
    "read_state_dict",
    "EventEncoder",
    "adapt_patch_weight",
    "create_event_encoder",
    "create_model",
    "get_config",
    "list_models",
    "CLIPTeacher",
    "ConSETeacher",
    "Teacher",
    "create_teacher",
    "logit_scale",
    "Tokenizer",
    "load_tokenizer",
    "tokenize",
    "ProjectedEncoder",
    "load_student",
    "save_student",
]
