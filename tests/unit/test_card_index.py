"""Card indexing (domain.card_index) and the model tree's relations (domain.model_tree): every rule, the bounds,
and the odd types YAML produces."""

from __future__ import annotations

import json

import pytest

from modelyard.domain.card_index import (
    MAX_CARD_JSON,
    MAX_CARD_TEXT,
    MAX_FIELD,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    config_subset,
    derive_tags,
    index_card,
    json_safe,
    title_of,
)
from modelyard.domain.card_metadata import MISSING_METADATA_WARNING
from modelyard.domain.model_tree import MAX_BASES, BaseModel, RepoFiles, base_models, relation_of, valid_model_id
from modelyard.domain.repo_ids import RepoType

MODEL, DATASET, SPACE = RepoType.MODEL, RepoType.DATASET, RepoType.SPACE
NO_FILES = RepoFiles()


def model(text: str, files: RepoFiles = NO_FILES, repo_id: str = "me/model"):
    return index_card(MODEL, repo_id, text, files)


# Relations


@pytest.mark.parametrize("declared", ["adapter", "merge", "quantized", "finetune", " Merge "])
def test_declared_relation_wins_over_files(declared):
    files = RepoFiles(has_adapter_config=True, has_gguf=True, has_quantization_config=True)
    assert relation_of(declared, 1, files) == declared.strip().lower()


@pytest.mark.parametrize(
    ("files", "count", "expected"),
    [
        (RepoFiles(has_adapter_config=True), 1, "adapter"),
        (RepoFiles(has_adapter_config=True, has_gguf=True), 2, "adapter"),  # adapter first, as on the Hub
        (RepoFiles(has_gguf=True), 1, "quantized"),
        (RepoFiles(has_quantization_config=True), 3, "quantized"),  # quantized before merge
        (NO_FILES, 2, "merge"),
        (NO_FILES, 1, "finetune"),
        (NO_FILES, 0, "finetune"),
    ],
)
def test_inferred_relation(files, count, expected):
    assert relation_of(None, count, files) == expected


@pytest.mark.parametrize("declared", ["distillation", "", 3, ["adapter"], None, True])
def test_invalid_declared_relation_is_inferred(declared):
    assert relation_of(declared, 1, RepoFiles(has_gguf=True)) == "quantized"


def test_base_models_of_str_and_list():
    assert base_models({"base_model": "org/base"}, "me/m", NO_FILES) == [BaseModel("org/base", "finetune")]
    assert base_models({"base_model": ["org/a", "org/b"]}, "me/m", NO_FILES) == [
        BaseModel("org/a", "merge"),
        BaseModel("org/b", "merge"),
    ]


def test_invalid_self_and_duplicate_bases_are_dropped():
    card = {"base_model": ["Me/Model", "org/a", "ORG/A", "no-namespace", "a/b/c", "bad--name/x", 7, None, {"x": 1}]}
    assert base_models(card, "me/model", NO_FILES) == [BaseModel("org/a", "finetune")]  # one valid base left
    assert base_models({"base_model": "me/model"}, "me/model", NO_FILES) == []
    assert base_models({}, "me/model", NO_FILES) == []
    assert base_models({"base_model": None}, "me/model", NO_FILES) == []


def test_base_key_is_lower_case_and_ids_are_trimmed():
    (base,) = base_models({"base_model": "  Org/Base "}, "me/m", NO_FILES)
    assert (base.base_id, base.key) == ("Org/Base", "org/base")
    assert valid_model_id("org/x\n") == "org/x"
    assert valid_model_id("org/x y") is None


def test_bases_are_bounded():
    card = {"base_model": [f"org/m{i}" for i in range(MAX_BASES * 3)]}
    assert len(base_models(card, "me/m", NO_FILES)) == MAX_BASES


# Tags


def test_model_tags():
    card = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["chat", 2024, 1.5, True, None, "", "  padded  ", "chat"],
        "language": ["en", "fr"],
        "datasets": "org/data",
        "license": "mit",
    }
    bases = [BaseModel("org/base", "adapter")]
    assert derive_tags(MODEL, card, bases, "see arxiv.org/abs/2307.09288 and https://arxiv.org/pdf/1810.03993") == [
        "transformers", "text-generation", "chat", "2024", "1.5", "padded", "en", "fr", "dataset:org/data",
        "base_model:org/base", "base_model:adapter:org/base", "arxiv:2307.09288", "arxiv:1810.03993",
        "license:mit",
    ]  # fmt: skip


def test_dataset_tags_are_prefixed():
    card = {
        "language": "en",
        "license": ["cc-by-4.0", "mit"],
        "task_categories": ["text-classification"],
        "task_ids": ["sentiment-classification"],
        "size_categories": "n<1K",
        "multilinguality": ["monolingual"],
        "language_creators": ["found"],
        "annotations_creators": ["expert-generated"],
        "source_datasets": ["original"],
        "tags": ["reviews"],
        "library_name": "datasets",  # not a dataset card field
        "datasets": ["x/y"],
    }
    assert derive_tags(DATASET, card, []) == [
        "reviews", "task_categories:text-classification", "task_ids:sentiment-classification", "language:en",
        "size_categories:n<1K", "multilinguality:monolingual", "language_creators:found",
        "annotations_creators:expert-generated", "source_datasets:original", "license:cc-by-4.0", "license:mit",
    ]  # fmt: skip


def test_space_tags_name_the_sdk():
    assert derive_tags(SPACE, {"sdk": "gradio", "tags": ["demo"], "license": "mit"}, []) == [
        "gradio",
        "demo",
        "license:mit",
    ]


@pytest.mark.parametrize(
    "card",
    [
        {"tags": {"a": 1}},
        {"tags": [["nested"], {"x": 1}]},
        {"tags": "multi\nline"},
        {"pipeline_tag": ["list"], "library_name": 3},
        {"license": {"name": "mit"}},
        {"language": False},  # YAML 1.1 reads `no` (Norwegian) as false: not a tag
    ],
)
def test_odd_yaml_types_make_no_tags(card):
    assert derive_tags(MODEL, card, []) == []


def test_tags_are_bounded_in_number_and_length():
    card = {"tags": [f"t{i}" for i in range(MAX_TAGS * 2)] + ["x" * (MAX_TAG_LENGTH + 1)]}
    tags = derive_tags(MODEL, card, [])
    assert len(tags) == MAX_TAGS
    assert derive_tags(MODEL, {"tags": ["x" * (MAX_TAG_LENGTH + 1), "ok"]}, []) == ["ok"]
    assert derive_tags(MODEL, {"tags": ["nul\x00byte"]}, []) == ["nulbyte"]


# The whole card


def test_index_of_a_model_card():
    text = "---\nlicense: [apache-2.0, mit]\nbase_model: org/b\n---\n\nIntro\n\n# The Title #\n\n# Second\n"
    index = model(text, RepoFiles(has_gguf=True))
    assert index.card == {"license": ["apache-2.0", "mit"], "base_model": "org/b"}
    assert index.title == "The Title"
    assert index.license == "apache-2.0"
    assert index.card_text == "\nIntro\n\n# The Title #\n\n# Second\n"
    assert index.bases == [BaseModel("org/b", "quantized")]
    assert "base_model:quantized:org/b" in index.tags
    assert index.warnings == []


def test_missing_readme_and_metadata_warn():
    assert index_card(MODEL, "me/m", None, NO_FILES).warnings == ["README.md not found: the repository has no card"]
    assert index_card(MODEL, "me/m", None, NO_FILES, "too large").warnings == ["too large"]
    index = model("# Only text\n")
    assert (index.card, index.title, index.warnings) == ({}, "Only text", [MISSING_METADATA_WARNING])


def test_a_card_the_hub_refuses_is_indexed_empty_with_its_errors():
    index = model("---\nlicense: not-a-license\n---\n# T\n")
    assert index.card == {} and index.license == "" and index.title == "T"
    assert index.warnings[0].startswith('"license" must be one of')
    broken = model("---\n: [unclosed\n---\nbody")
    assert broken.card == {} and broken.warnings[0].startswith("Invalid YAML in README.md")


def test_wrong_types_of_known_fields_warn():
    index = model(
        "---\npipeline_tag: [a]\ntags: {a: 1}\nbase_model: [ok/model, not an id]\nbase_model_relation: fork\n"
        f"library_name: {'x' * (MAX_FIELD + 1)}\n---\n"
    )
    assert index.warnings == [
        '"pipeline_tag" must be a string',
        '"tags" must be a string or a list of strings',
        '"base_model_relation" must be one of adapter, merge, quantized, finetune',
        "\"base_model\" 'not an id' is not a model id (namespace/name)",
        f'"library_name" is longer than {MAX_FIELD} characters',
    ]
    assert index.library_name == "" and index.pipeline_tag == ""
    assert index.bases == [BaseModel("ok/model", "finetune")]


def test_card_values_are_stored_as_json():
    index = model(
        "---\ndate: 2024-01-31\nwhen: 2024-01-31 10:00:00\n1: one\nnan: .nan\ninf: -.inf\nset: !!set {a: null}\n"
        'nul: "a\\0b"\n---\n'
    )
    assert index.card == {
        "date": "2024-01-31",
        "when": "2024-01-31T10:00:00",
        "1": "one",
        "nan": None,
        "inf": None,
        "set": ["a"],
        "nul": "ab",
    }
    json.dumps(index.card, allow_nan=False)


def test_text_and_card_are_bounded():
    index = model("---\nlicense: mit\n---\n# T\n" + "x" * (MAX_CARD_TEXT * 2) + "\x00")
    assert len(index.card_text) == MAX_CARD_TEXT and "\x00" not in index.card_text
    # Aliases let a small card stand for a large one: its metadata is not stored.
    aliases = "---\na: &a [" + ",".join(["'" + "y" * 100 + "'"] * 100) + "]\n"
    aliases += "".join(f"k{i}: *a\n" for i in range(MAX_CARD_JSON // 10_000 + 1)) + "license: mit\n---\n"
    big = model(aliases)
    assert big.card == {} and big.license == "" and "larger than" in big.warnings[0]


def test_title_is_the_first_level_one_heading():
    assert title_of("## Not this\n#Nor this\n# Yes  \n# Later") == "Yes"
    assert title_of("no heading") == ""
    assert len(title_of("# " + "t" * 1000)) == 300


def test_config_subset():
    config = {
        "architectures": ["LlamaForCausalLM", 3],
        "model_type": "llama",
        "hidden_size": 4096,
        "quantization_config": {"bits": 4, "quant_method": "gptq"},
    }
    assert config_subset(config) == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "quantization_config": {"bits": 4, "quant_method": "gptq"},
    }
    assert config_subset({"hidden_size": 8}) is None
    assert config_subset([1, 2]) is None
    assert config_subset(None) is None
    assert config_subset({"model_type": 3, "quantization_config": "4bit"}) is None
    huge = {"quantization_config": {"modules": ["m" * 100] * 10_000}, "model_type": "x"}
    assert config_subset(huge) == {"model_type": "x"}


def test_json_safe_leaves_json_alone():
    value = {"a": [1, 2.5, True, None, "s"], "b": {"c": []}}
    assert json_safe(value) == value
