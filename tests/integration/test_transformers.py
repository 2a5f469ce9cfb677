"""transformers: push a tiny random GPT-2 and a tokenizer trained in the test, load them back from the hub
into a fresh cache, and get the very same greedy generations."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "a model yard keeps tiny models safe and sound",
    "hello world from the integration test suite",
    "tokenizers learn merges from a handful of sentences",
] * 4
PROMPT = "the quick brown fox"


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


def _tiny_gpt2(vocab_size: int, eos_id: int):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        initializer_range=0.5,  # large random weights: varied, prompt-dependent generations
    )
    torch.manual_seed(1234)
    return GPT2LMHeadModel(config).eval()


def _greedy(model, tokenizer, prompt: str) -> list[int]:
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(
            ids,
            max_new_tokens=12,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
            eos_token_id=None,
        )
    return out[0].tolist()


def test_push_to_hub_then_from_pretrained(api, alice, repo_id: str, tmp_path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = _train_tokenizer()
    model = _tiny_gpt2(len(tokenizer), tokenizer.eos_token_id)
    expected = _greedy(model, tokenizer, PROMPT)
    expected_other = _greedy(model, tokenizer, "hello world")

    model.push_to_hub(repo_id, token=alice.token, commit_message="Add tiny GPT-2")
    tokenizer.push_to_hub(repo_id, token=alice.token, commit_message="Add tokenizer")

    files = set(api.list_repo_files(repo_id))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= files
    assert "pytorch_model.bin" not in files
    weights = {e.path: e for e in api.list_repo_tree(repo_id)}["model.safetensors"]
    assert weights.lfs is not None

    cache = tmp_path / "fresh-cache"
    loaded_tok = AutoTokenizer.from_pretrained(repo_id, cache_dir=cache)
    loaded = AutoModelForCausalLM.from_pretrained(repo_id, cache_dir=cache).eval()

    assert loaded_tok(PROMPT).input_ids == tokenizer(PROMPT).input_ids
    assert loaded_tok.decode(loaded_tok(PROMPT).input_ids) == PROMPT
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert _greedy(loaded, loaded_tok, PROMPT) == expected
    assert _greedy(loaded, loaded_tok, "hello world") == expected_other

    # Pinned to the commit sha the hub reports, from yet another empty cache.
    sha = api.model_info(repo_id).sha
    again = AutoModelForCausalLM.from_pretrained(repo_id, revision=sha, cache_dir=tmp_path / "pinned").eval()
    assert _greedy(again, loaded_tok, PROMPT) == expected
