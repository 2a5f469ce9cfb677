"""The field vocabulary of info and listings, and what the Hub derives from a card and a config."""

from typing import get_args

import pytest
from huggingface_hub.hf_api import ExpandDatasetProperty_T, ExpandModelProperty_T, ExpandSpaceProperty_T

from modelyard.domain.card_text import citation, description
from modelyard.domain.errors import BadRequest
from modelyard.domain.repo_fields import EXPANDABLE, IDENTITY, LISTING_DEFAULT, info_fields, listing_fields
from modelyard.domain.repo_ids import RepoType
from modelyard.domain.transformers_info import mask_token, transformers_info


@pytest.mark.parametrize(
    ("repo_type", "literal"),
    [
        (RepoType.MODEL, ExpandModelProperty_T),
        (RepoType.DATASET, ExpandDatasetProperty_T),
        (RepoType.SPACE, ExpandSpaceProperty_T),
    ],
)
def test_expandable_is_what_the_client_knows(repo_type, literal):
    assert EXPANDABLE[repo_type] == set(get_args(literal))


def test_info_without_expand_leaves_out_what_the_hub_shows_only_when_asked():
    fields = info_fields(RepoType.MODEL, [])
    assert {"cardData", "siblings", "sha", "transformersInfo", "spaces"} <= fields.fields
    assert not fields.wants("evalResults", "inferenceProviderMapping", "resourceGroup")
    assert info_fields(RepoType.MODEL, ["likes"]).fields == {"likes"} | IDENTITY


def test_unknown_or_foreign_expand_values_are_refused():
    with pytest.raises(BadRequest, match="citation"):
        info_fields(RepoType.MODEL, ["citation"])
    with pytest.raises(BadRequest, match="nope"):
        listing_fields(RepoType.DATASET, ["nope"], full=False, card_data=False, config=False)


@pytest.mark.parametrize("switch", ["full", "card_data", "config"])
def test_expand_is_never_combined_with_a_switch(switch):
    flags = {"full": False, "card_data": False, "config": False, switch: True}
    with pytest.raises(BadRequest, match="expand"):
        listing_fields(RepoType.MODEL, ["likes"], **flags)


def test_listing_switches_widen_the_default_item():
    plain = listing_fields(RepoType.MODEL, [], full=False, card_data=False, config=False)
    assert plain.fields == LISTING_DEFAULT[RepoType.MODEL] | IDENTITY
    assert "siblings" not in plain and "cardData" not in plain
    full = listing_fields(RepoType.MODEL, [], full=True, card_data=False, config=False)
    assert "siblings" in full and "cardData" not in full  # models need cardData=true for it
    assert "cardData" in listing_fields(RepoType.DATASET, [], full=True, card_data=False, config=False)
    both = listing_fields(RepoType.MODEL, [], full=False, card_data=True, config=True)
    assert {"cardData", "config"} <= both.fields
    assert "config" not in listing_fields(RepoType.DATASET, [], full=False, card_data=False, config=True)


@pytest.mark.parametrize(
    ("architecture", "auto_model", "task"),
    [
        ("GPT2LMHeadModel", "AutoModelForCausalLM", "text-generation"),
        ("LlamaForCausalLM", "AutoModelForCausalLM", "text-generation"),
        ("BertForMaskedLM", "AutoModelForMaskedLM", "fill-mask"),
        ("BertForSequenceClassification", "AutoModelForSequenceClassification", "text-classification"),
        ("T5ForConditionalGeneration", "AutoModelForSeq2SeqLM", "text2text-generation"),
        ("BertModel", "AutoModel", "feature-extraction"),
    ],
)
def test_transformers_info_from_the_architecture(architecture, auto_model, task):
    info = transformers_info({"architectures": [architecture]}, "", "")
    assert info == {"auto_model": auto_model, "pipeline_tag": task}


def test_transformers_info_details():
    config = {
        "architectures": ["MyForCausalLM"],
        "auto_map": {"AutoModelForCausalLM": "modeling_my.MyForCausalLM"},
        "tokenizer_config": {"mask_token": {"content": "<mask>"}},
    }
    info = transformers_info(config, "text-generation", "transformers")
    assert info == {
        "auto_model": "AutoModelForCausalLM",
        "custom_class": "modeling_my.MyForCausalLM",
        "pipeline_tag": "text-generation",
        "processor": "AutoTokenizer",
    }
    assert transformers_info({"architectures": ["BertForMaskedLM"]}, "fill-mask", "")["pipeline_tag"] == "fill-mask"
    assert transformers_info(config, "", "diffusers") is None  # another library's model
    assert transformers_info({"architectures": "not-a-list"}, "", "") is None
    assert transformers_info(None, "", "") is None
    assert mask_token(config) == "<mask>"
    assert mask_token({"tokenizer_config": {"mask_token": "[MASK]"}}) == "[MASK]"
    assert mask_token({"architectures": ["X"]}) is None


BODY = """# Greetings

<p align="center"><img src="x.png"></p>

A tiny dataset
of greetings.

Second paragraph.

## Citation

```
@misc{x, title={X}}
```
"""


def test_description_is_the_first_prose_paragraph():
    assert description(BODY) == "A tiny dataset of greetings."
    assert description("# Only a title\n") == ""
    long = description("word " * 500)
    assert len(long) == 500 and long.endswith("…")


def test_citation_is_a_bibtex_block_or_the_block_under_a_citation_heading():
    assert citation(BODY) == "@misc{x, title={X}}"
    fenced = "Intro\n\n```python\nprint(1)\n```\n\n```bibtex\n@article{y}\n```\n"
    assert citation(fenced) == "@article{y}"
    assert citation("No citation here.\n\n```\ncode\n```\n") == ""
