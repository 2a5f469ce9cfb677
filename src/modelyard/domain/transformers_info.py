"""The Hub's `transformersInfo`: which transformers auto class loads a model, derived from its config.

huggingface_hub builds a `TransformersInfo(auto_model, custom_class, pipeline_tag, processor)` from it and fails on
any other key, so this answers exactly those keys, or nothing when the model is not a transformers model.
"""

from __future__ import annotations

from typing import Any

# Architecture class name endings (longest first) → the auto class that loads them and the task they serve.
_HEADS: tuple[tuple[str, str, str | None], ...] = (
    ("ForSequenceClassification", "AutoModelForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "AutoModelForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering", "question-answering"),
    ("ForConditionalGeneration", "AutoModelForSeq2SeqLM", "text2text-generation"),
    ("ForImageClassification", "AutoModelForImageClassification", "image-classification"),
    ("ForAudioClassification", "AutoModelForAudioClassification", "audio-classification"),
    ("ForSemanticSegmentation", "AutoModelForSemanticSegmentation", "image-segmentation"),
    ("ForObjectDetection", "AutoModelForObjectDetection", "object-detection"),
    ("ForImageTextToText", "AutoModelForImageTextToText", "image-text-to-text"),
    ("ForMultipleChoice", "AutoModelForMultipleChoice", None),
    ("ForVision2Seq", "AutoModelForVision2Seq", "image-text-to-text"),
    ("ForPreTraining", "AutoModelForPreTraining", None),
    ("ForCausalLM", "AutoModelForCausalLM", "text-generation"),
    ("LMHeadModel", "AutoModelForCausalLM", "text-generation"),
    ("ForMaskedLM", "AutoModelForMaskedLM", "fill-mask"),
    ("ForCTC", "AutoModelForCTC", "automatic-speech-recognition"),
    ("Model", "AutoModel", "feature-extraction"),
)
TRANSFORMERS = "transformers"


def transformers_info(config: dict[str, Any] | None, pipeline_tag: str, library_name: str) -> dict[str, str] | None:
    """`{auto_model, custom_class?, pipeline_tag?, processor?}` for a transformers model, else None.

    A model is a transformers model when its card says so or says no library while its config names an
    architecture. `custom_class` is the config's `auto_map` entry for that auto class (remote code); the model's
    own pipeline tag wins over the architecture's; `processor` is AutoTokenizer when a tokenizer config is indexed.
    """
    if not config or library_name not in ("", TRANSFORMERS):
        return None
    architectures = config.get("architectures")
    architecture = architectures[0] if isinstance(architectures, list) and architectures else None
    if not isinstance(architecture, str):
        return None
    head = next((head for head in _HEADS if architecture.endswith(head[0])), None)
    if head is None:
        return None
    _, auto_model, task = head
    info: dict[str, str] = {"auto_model": auto_model}
    auto_map = config.get("auto_map")
    if isinstance(auto_map, dict) and isinstance(auto_map.get(auto_model), str):
        info["custom_class"] = auto_map[auto_model]
    if pipeline_tag or task:
        info["pipeline_tag"] = pipeline_tag or str(task)
    if isinstance(config.get("tokenizer_config"), dict):
        info["processor"] = "AutoTokenizer"
    return info


def mask_token(config: dict[str, Any] | None) -> str | None:
    """The tokenizer's mask token as the Hub shows it (fill-mask widgets use it), when the config indexes one."""
    tokenizer = (config or {}).get("tokenizer_config")
    token = tokenizer.get("mask_token") if isinstance(tokenizer, dict) else None
    if isinstance(token, dict):  # an AddedToken written out: {"content": "[MASK]", ...}
        token = token.get("content")
    return token if isinstance(token, str) else None
