"""What `model_info`/`dataset_info`/`space_info` and listing items show, through huggingface_hub 2.4: every `expand`
value the client knows (parametrized from its own Literals, so a value a newer client adds fails here until the
server knows it), the default info, `full`/`cardData`/`config` listings, and values equal to what was committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, get_args

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.hf_api import ExpandDatasetProperty_T, ExpandModelProperty_T, ExpandSpaceProperty_T

from conftest import User, make_name
from helpers import HEX40

MODEL_CARD = {
    "license": "apache-2.0",
    "language": ["en", "zh"],
    "tags": ["fields-test", "tiny"],
    "pipeline_tag": "text-generation",
    "library_name": "transformers",
    "datasets": ["placeholder"],  # replaced by the dataset's id
    "widget": [{"text": "Once upon a time"}],
    "model-index": [
        {
            "name": "tiny-base",
            "results": [
                {
                    "task": {"type": "text-generation"},
                    "dataset": {"type": "wikitext", "name": "WikiText"},
                    "metrics": [{"type": "perplexity", "value": 42.5}],
                }
            ],
        }
    ],
}
CONFIG = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": 2, "n_embd": 8, "vocab_size": 50}
DATASET_DESCRIPTION = "A tiny dataset of greetings, made for the Modelyard field tests."
BIBTEX = "@misc{greetings2026,\n  title={Greetings},\n  author={Alice},\n  year={2026}\n}"


def _readme(card: dict[str, Any], body: str) -> bytes:
    return f"---\n{json.dumps(card, indent=1)}\n---\n\n{body}\n".encode()


@dataclass
class Family:
    """A base model with a public and a private fine-tune, a dataset, and Spaces (public and private) using both."""

    base: str
    base_sha: str
    base_files: dict[str, bytes]
    child: str
    private_child: str
    dataset: str
    dataset_files: dict[str, bytes]
    space: str
    private_space: str


def _commit(api: HfApi, rid: str, files: dict[str, bytes], repo_type: str = "model") -> str:
    ops = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()]
    return api.create_commit(rid, ops, commit_message="Add files", repo_type=repo_type).oid


@pytest.fixture(scope="module")
def family(api: HfApi, alice: User) -> Family:
    ids = {role: f"{alice.name}/{make_name('fields-' + role)}" for role in ("base", "child", "pchild", "ds")}
    ids |= {role: f"{alice.name}/{make_name('fields-' + role)}" for role in ("space", "pspace")}
    dataset_card = {
        "license": "cc-by-4.0",
        "paperswithcode_id": "greetings",
        "task_categories": ["text-generation"],
        "language": ["en"],
    }
    dataset_files = {
        "README.md": _readme(
            dataset_card, f"# Greetings\n\n{DATASET_DESCRIPTION}\n\n## Citation\n\n```bibtex\n{BIBTEX}\n```"
        ),
        "data/train.csv": b"text\nhello\nbonjour\n",
    }
    api.create_repo(ids["ds"], repo_type="dataset")
    _commit(api, ids["ds"], dataset_files, "dataset")

    base_files = {
        "README.md": _readme({**MODEL_CARD, "datasets": [ids["ds"]]}, "# Tiny base\n\nA base model."),
        "config.json": json.dumps(CONFIG).encode(),
    }
    api.create_repo(ids["base"])
    base_sha = _commit(api, ids["base"], base_files)

    for role, private in (("child", False), ("pchild", True)):
        api.create_repo(ids[role], private=private)
        card = {"license": "apache-2.0", "base_model": ids["base"], "library_name": "transformers"}
        _commit(
            api, ids[role], {"README.md": _readme(card, "A fine-tune."), "config.json": json.dumps(CONFIG).encode()}
        )

    for role, private in (("space", False), ("pspace", True)):
        api.create_repo(ids[role], repo_type="space", space_sdk="gradio", private=private)
        card = {"sdk": "gradio", "models": [ids["base"]], "datasets": [ids["ds"]], "title": "Demo"}
        _commit(api, ids[role], {"README.md": _readme(card, "A demo."), "app.py": b"print('hi')\n"}, "space")

    return Family(
        base=ids["base"],
        base_sha=base_sha,
        base_files=base_files,
        child=ids["child"],
        private_child=ids["pchild"],
        dataset=ids["ds"],
        dataset_files=dataset_files,
        space=ids["space"],
        private_space=ids["pspace"],
    )


# ----------------------------------------------------------------------------------------------------
# Every expand value: what the client makes of the answer, for one property at a time
# ----------------------------------------------------------------------------------------------------
def _model_expectations(f: Family) -> dict[str, Any]:
    """prop -> (attribute of ModelInfo, check of its value)."""
    card = {**MODEL_CARD, "datasets": [f.dataset]}
    return {
        "author": ("author", lambda v: v == f.base.split("/")[0]),
        "baseModels": ("base_models", lambda v: v is None),  # the base derives from nothing
        "cardData": ("card_data", lambda v: v.license == "apache-2.0" and v.to_dict()["widget"] == card["widget"]),
        "childrenModelCount": ("children_model_count", lambda v: v == 1),  # the private fine-tune is not counted
        "config": ("config", lambda v: v["architectures"] == CONFIG["architectures"] and v["model_type"] == "gpt2"),
        "createdAt": ("created_at", lambda v: v.tzinfo is not None),
        "disabled": ("disabled", lambda v: v is False),
        "downloads": ("downloads", lambda v: v == 0),
        "downloadsAllTime": ("downloads_all_time", lambda v: v == 0),
        "evalResults": ("eval_results", lambda v: v is None),  # no .eval_results/ files
        "gated": ("gated", lambda v: v is False),
        "gguf": ("gguf", lambda v: v is None),  # no GGUF file
        "inference": ("inference", lambda v: v is None),
        "inferenceProviderMapping": ("inference_provider_mapping", lambda v: v == []),
        "lastModified": ("last_modified", lambda v: v.tzinfo is not None),
        "library_name": ("library_name", lambda v: v == "transformers"),
        "likes": ("likes", lambda v: v == 0),
        "mask_token": ("mask_token", lambda v: v is None),  # a causal LM has none
        "model-index": ("model_index", lambda v: v == card["model-index"]),
        "pipeline_tag": ("pipeline_tag", lambda v: v == "text-generation"),
        "private": ("private", lambda v: v is False),
        "resourceGroup": ("resource_group", lambda v: v is None),
        "safetensors": ("safetensors", lambda v: v is None),  # no weights
        "sha": ("sha", lambda v: v == f.base_sha),
        "siblings": ("siblings", lambda v: {s.rfilename for s in v} >= set(f.base_files)),
        "spaces": ("spaces", lambda v: v == [f.space]),  # not the private one
        "tags": ("tags", lambda v: set(v) >= {"fields-test", "tiny", "en", "zh", "license:apache-2.0"}),
        "transformersInfo": (
            "transformers_info",
            lambda v: v.auto_model == "AutoModelForCausalLM" and v.pipeline_tag == "text-generation",
        ),
        "trendingScore": ("trending_score", lambda v: v == 0),
        "usedStorage": ("used_storage", lambda v: v >= sum(len(data) for data in f.base_files.values())),
        "widgetData": ("widget_data", lambda v: v == card["widget"]),
    }


def _dataset_expectations(f: Family) -> dict[str, Any]:
    size = sum(len(data) for data in f.dataset_files.values())
    return {
        "author": ("author", lambda v: v == f.dataset.split("/")[0]),
        "cardData": ("card_data", lambda v: v.license == "cc-by-4.0" and v.paperswithcode_id == "greetings"),
        "citation": ("citation", lambda v: v == BIBTEX),
        "createdAt": ("created_at", lambda v: v.tzinfo is not None),
        "description": ("description", lambda v: v == DATASET_DESCRIPTION),
        "disabled": ("disabled", lambda v: v is False),
        "downloads": ("downloads", lambda v: v == 0),
        "downloadsAllTime": ("downloads_all_time", lambda v: v == 0),
        "gated": ("gated", lambda v: v is False),
        "lastModified": ("last_modified", lambda v: v.tzinfo is not None),
        "likes": ("likes", lambda v: v == 0),
        "mainSize": ("main_size", lambda v: v >= size),  # .gitattributes too
        "paperswithcode_id": ("paperswithcode_id", lambda v: v == "greetings"),
        "private": ("private", lambda v: v is False),
        "resourceGroup": ("resource_group", lambda v: v is None),
        "sha": ("sha", lambda v: HEX40.match(v)),
        "siblings": ("siblings", lambda v: {s.rfilename for s in v} >= set(f.dataset_files)),
        "tags": ("tags", lambda v: set(v) >= {"license:cc-by-4.0", "language:en", "task_categories:text-generation"}),
        "trendingScore": ("trending_score", lambda v: v == 0),
        "usedStorage": ("used_storage", lambda v: v >= size),
    }


def _space_expectations(f: Family) -> dict[str, Any]:
    return {
        "author": ("author", lambda v: v == f.space.split("/")[0]),
        "cardData": ("card_data", lambda v: v.sdk == "gradio" and v.models == [f.base]),
        "createdAt": ("created_at", lambda v: v.tzinfo is not None),
        "datasets": ("datasets", lambda v: v == [f.dataset]),
        "disabled": ("disabled", lambda v: v is False),
        "lastModified": ("last_modified", lambda v: v.tzinfo is not None),
        "likes": ("likes", lambda v: v == 0),
        "models": ("models", lambda v: v == [f.base]),
        "private": ("private", lambda v: v is False),
        "region": ("region", lambda v: v is None),  # Spaces do not run here
        "resourceGroup": ("resource_group", lambda v: v is None),
        "runtime": ("runtime", lambda v: v is None),
        "sdk": ("sdk", lambda v: v == "gradio"),
        "sha": ("sha", lambda v: HEX40.match(v)),
        "siblings": ("siblings", lambda v: {s.rfilename for s in v} >= {"README.md", "app.py"}),
        "subdomain": ("subdomain", lambda v: v is None),
        "tags": ("tags", lambda v: isinstance(v, list)),
        "trendingScore": ("trending_score", lambda v: v == 0),
        "usedStorage": ("used_storage", lambda v: v > 0),
    }


def _check_one(http: httpx.Client, plural: str, rid: str, prop: str, info: Any, expectations: dict) -> None:
    attribute, check = expectations[prop]  # a KeyError: the client knows a property this test does not
    value = getattr(info, attribute)
    assert info.id == rid
    assert check(value), (prop, value)
    raw = http.get(f"/api/{plural}/{rid}", params={"expand": prop}).json()
    assert set(raw) <= {"id", "_id", prop}, raw  # only what was asked


@pytest.mark.parametrize("prop", get_args(ExpandModelProperty_T))
def test_model_info_expand(anon_api: HfApi, http: httpx.Client, family: Family, prop: str) -> None:
    info = anon_api.model_info(family.base, expand=[prop])
    _check_one(http, "models", family.base, prop, info, _model_expectations(family))


@pytest.mark.parametrize("prop", get_args(ExpandDatasetProperty_T))
def test_dataset_info_expand(anon_api: HfApi, http: httpx.Client, family: Family, prop: str) -> None:
    info = anon_api.dataset_info(family.dataset, expand=[prop])
    _check_one(http, "datasets", family.dataset, prop, info, _dataset_expectations(family))


@pytest.mark.parametrize("prop", get_args(ExpandSpaceProperty_T))
def test_space_info_expand(anon_api: HfApi, http: httpx.Client, family: Family, prop: str) -> None:
    info = anon_api.space_info(family.space, expand=[prop])
    _check_one(http, "spaces", family.space, prop, info, _space_expectations(family))


def test_default_info_shows_the_hub_fields(anon_api: HfApi, family: Family) -> None:
    info = anon_api.model_info(family.base)
    checks = _model_expectations(family)
    for prop, (attribute, check) in checks.items():
        if prop in ("evalResults", "inferenceProviderMapping", "resourceGroup"):
            continue  # only when asked, as on the Hub
        assert check(getattr(info, attribute)), prop

    dataset = anon_api.dataset_info(family.dataset)
    assert dataset.citation == BIBTEX
    assert dataset.card_data.paperswithcode_id == "greetings"
    space = anon_api.space_info(family.space)
    assert (space.sdk, space.models, space.datasets) == ("gradio", [family.base], [family.dataset])


def test_several_expand_values_together(anon_api: HfApi, family: Family) -> None:
    info = anon_api.model_info(family.base, expand=["cardData", "tags", "sha", "childrenModelCount"])
    assert info.sha == family.base_sha
    assert info.card_data.license == "apache-2.0"
    assert info.children_model_count == 1
    assert info.siblings is None and info.downloads is None  # not asked


def test_child_names_its_base(anon_api: HfApi, family: Family) -> None:
    info = anon_api.model_info(family.child, expand=["baseModels", "tags", "cardData"])
    assert info.base_models["relation"] == "finetune"
    assert [model["id"] for model in info.base_models["models"]] == [family.base]
    assert f"base_model:{family.base}" in info.tags
    assert info.card_data.base_model == family.base


def test_unknown_expand_value_is_a_clear_400(http: httpx.Client, family: Family) -> None:
    answer = http.get(f"/api/models/{family.base}", params={"expand": "noSuchField"})
    assert answer.status_code == 400
    assert "noSuchField" in answer.json()["error"]
    # a dataset's property is not a model's
    assert http.get(f"/api/models/{family.base}", params={"expand": "citation"}).status_code == 400


def test_info_at_another_revision_reads_the_card_there(api: HfApi, family: Family) -> None:
    """The default branch answers from the index; an older commit from its own card in git."""
    old = api.model_info(family.base, revision=family.base_sha, expand=["cardData", "tags", "sha", "config"])
    assert old.sha == family.base_sha
    assert old.card_data.license == "apache-2.0"
    assert old.config["model_type"] == "gpt2"

    rid = f"{family.base.split('/')[0]}/{make_name('fields-revisions')}"
    api.create_repo(rid)
    first = _commit(api, rid, {"README.md": _readme({"license": "mit", "tags": ["first"]}, "v1")})
    second = _commit(api, rid, {"README.md": _readme({"license": "cc0-1.0", "tags": ["second"]}, "v2")})
    at_first = api.model_info(rid, revision=first, expand=["cardData", "tags"])
    now = api.model_info(rid, expand=["cardData", "tags", "sha"])
    assert at_first.card_data.license == "mit" and "first" in at_first.tags
    assert now.sha == second and now.card_data.license == "cc0-1.0" and "second" in now.tags
    assert "first" not in now.tags


def test_security_status(api: HfApi, family: Family) -> None:
    info = api.model_info(family.base, securityStatus=True)
    assert info.security_repo_status == {"scansDone": False, "filesWithIssues": []}


# ----------------------------------------------------------------------------------------------------
# Listings
# ----------------------------------------------------------------------------------------------------
def _listed(items, rid: str):
    (item,) = [item for item in items if item.id == rid]
    return item


def test_default_listing_item(anon_api: HfApi, family: Family) -> None:
    author = family.base.split("/")[0]
    item = _listed(anon_api.list_models(author=author, search="fields-base"), family.base)
    assert (item.pipeline_tag, item.library_name, item.sha) == ("text-generation", "transformers", family.base_sha)
    assert {"fields-test", "license:apache-2.0"} <= set(item.tags)
    assert item.private is False and item.likes == 0 and item.created_at is not None
    assert item.siblings is None and item.card_data is None and item.config is None  # not without asking


def test_full_listing(anon_api: HfApi, family: Family) -> None:
    author = family.base.split("/")[0]
    item = _listed(anon_api.list_models(author=author, search="fields-base", full=True), family.base)
    assert {s.rfilename for s in item.siblings} >= set(family.base_files)
    assert item.sha == family.base_sha and item.last_modified is not None
    assert item.card_data is None  # models need cardData=True for it

    dataset = _listed(anon_api.list_datasets(author=author, search="fields-ds", full=True), family.dataset)
    assert dataset.card_data.paperswithcode_id == "greetings"
    assert {s.rfilename for s in dataset.siblings} >= set(family.dataset_files)
    space = _listed(anon_api.list_spaces(author=author, search="fields-space", full=True), family.space)
    assert space.card_data.sdk == "gradio" and space.sdk == "gradio"


def test_card_data_and_config_listing(anon_api: HfApi, family: Family) -> None:
    author = family.base.split("/")[0]
    items = anon_api.list_models(author=author, search="fields-base", cardData=True, fetch_config=True)
    item = _listed(items, family.base)
    assert item.card_data.license == "apache-2.0"
    assert item.card_data.to_dict()["model-index"] == MODEL_CARD["model-index"]
    assert item.config["architectures"] == CONFIG["architectures"]
    assert item.siblings is None


def test_expand_listing(anon_api: HfApi, family: Family) -> None:
    author = family.base.split("/")[0]
    props = ["cardData", "childrenModelCount", "spaces", "transformersInfo", "sha", "siblings", "downloadsAllTime"]
    items = list(anon_api.list_models(author=author, search="fields-", expand=props))
    base = _listed(items, family.base)
    assert base.card_data.license == "apache-2.0"
    assert base.children_model_count == 1
    assert base.spaces == [family.space]
    assert base.transformers_info.auto_model == "AutoModelForCausalLM"
    assert base.sha == family.base_sha and base.downloads_all_time == 0
    assert base.likes is None and base.tags is None  # only what was asked
    child = _listed(items, family.child)
    assert child.children_model_count == 0
    assert family.private_child not in {item.id for item in items}  # anonymous


@pytest.mark.parametrize("prop", get_args(ExpandModelProperty_T))
def test_every_model_expand_value_in_listings(http: httpx.Client, family: Family, prop: str) -> None:
    answer = http.get("/api/models", params={"author": family.base.split("/")[0], "search": "fields-", "expand": prop})
    assert answer.status_code == 200, answer.text
    items = answer.json()
    assert items and all(set(item) <= {"id", "_id", prop} for item in items)


@pytest.mark.parametrize("switch", ["full", "cardData", "config"])
def test_expand_with_another_switch_is_a_400(http: httpx.Client, switch: str) -> None:
    answer = http.get("/api/models", params={"expand": "likes", switch: "true"})
    assert answer.status_code == 400
    assert "expand" in answer.json()["error"]
