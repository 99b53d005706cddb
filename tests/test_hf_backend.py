"""The transformers backend on a tiny random Llama built here (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.tiny_model import build_tiny_llama
from wattbench.backends.base import GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.data.wattbot import load_corpus
from wattbench.errors import WattbenchError


@pytest.fixture(scope="module")
def tiny_model(wattbot: Path, tmp_path_factory) -> Path:
    texts = [p.text for d in load_corpus(wattbot / "corpus")[:4] for page in d.pages for p in page.paragraphs]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", texts)


def _request(text: str, **options) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": text}], **options)


def test_batched_generation_with_fixed_length(tiny_model: Path):
    backend = create_backend("hf", model=str(tiny_model), dtype="fp32", max_batch_size=4)
    prompts = ["short", "a much longer prompt about the energy use of data centres and GPUs", "mid length prompt"]
    out = backend.generate([_request(p, max_tokens=12, min_tokens=12) for p in prompts])
    assert [c.completion_tokens for c in out] == [12, 12, 12]  # min = max: a fixed output length
    assert all(c.finish_reason == "length" and c.error is None for c in out)
    assert out[0].prompt_tokens < out[2].prompt_tokens < out[1].prompt_tokens  # left padding not counted
    assert len({c.latency_s for c in out}) == 1  # one batch, one generate call
    # Each decoding step is stamped: the first after the batch's prefill, one gap per later token.
    assert all(0 < c.ttft_s < c.latency_s and len(c.itl_s) == 11 and c.tpot_s > 0 for c in out)
    assert out[0].ttft_s + 11 * out[0].tpot_s == pytest.approx(out[0].ttft_s + sum(out[0].itl_s))
    info = backend.info()
    assert info["engine"] == "transformers" and info["dtype"] == "torch.float32" and info["devices"] == ["cpu"]
    backend.close()


def test_batched_equals_one_at_a_time_under_greedy(tiny_model: Path):
    backend = create_backend("hf", model=str(tiny_model), dtype="fp32", max_batch_size=8)
    prompts = ["one", "two three four five", "six seven"]
    together = backend.generate([_request(p, max_tokens=8) for p in prompts])
    alone = [backend.generate([_request(p, max_tokens=8)])[0] for p in prompts]
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.completion_tokens for c in together] == [c.completion_tokens for c in alone]


def test_settings_split_batches_and_errors_are_one_line(tiny_model: Path):
    backend = create_backend("hf", model=str(tiny_model), dtype="fp32", max_batch_size=2)
    out = backend.generate(
        [
            _request("a", max_tokens=3, min_tokens=3),
            _request("b", max_tokens=5, min_tokens=5),
            _request("c", max_tokens=3, min_tokens=3),
        ]
    )
    assert [c.completion_tokens for c in out] == [3, 5, 3]  # answers come back in request order
    with pytest.raises(WattbenchError, match=r"backend 'hf': dtype: Input should be 'auto'"):
        create_backend("hf", model=str(tiny_model), dtype="int3")
    with pytest.raises(WattbenchError, match="'no-org/no-model' is not in the local cache"):
        create_backend("hf", model="no-org/no-model")


def test_thinking_split_on_ids_prefixes_and_plain_prompts(tiny_model: Path):
    from transformers import AutoTokenizer

    backend = create_backend("hf", model=str(tiny_model), dtype="fp32", max_batch_size=4)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    first = backend.generate([_request("energy use", max_tokens=10, min_tokens=10)])[0]
    ids = tokenizer.encode(first.text, add_special_tokens=False)
    marker = tokenizer.decode(ids[3:4])  # a token the greedy model is known to produce: the "end of thinking"
    assert tokenizer.encode(marker, add_special_tokens=False) == ids[3:4]
    split, prefixed, plain = backend.generate(
        [
            _request("energy use", max_tokens=10, min_tokens=10, think_end=marker),
            _request("energy use", max_tokens=2, assistant_prefix="<think>\n"),
            _request("", max_tokens=2, prompt_text="The sky is"),
        ]
    )
    assert split.reasoning_tokens == ids.index(ids[3]) + 1  # counted on the generated ids, marker included
    assert split.reasoning_text + split.text == first.text and split.completion_tokens == 10
    assert prefixed.rendered_prompt.endswith("<s>assistant:<think>\n")
    assert plain.rendered_prompt == "<s>The sky is"  # no chat template; the BOS the tokenizer would add
    backend.close()
