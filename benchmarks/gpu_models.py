"""Random-weight models the GPU check builds in code (no downloads): the same time and energy per token as trained
models of the same shape. Tokenizers are trained here on the corpus text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

QWEN25_05B_LAYERS = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                         tie_word_embeddings=True)  # fmt: skip
"""Qwen2.5-0.5B's layers; the vocabulary is the one trained here (32k), so the model has about 0.39B parameters."""
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=4096, tie_word_embeddings=True)  # fmt: skip
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_small_model(directory: Path, corpus: Path, quick: bool) -> Path:
    """Qwen2.5-0.5B's layers (or a tiny model with --quick), random weights, and a BPE tokenizer trained on the
    corpus text, saved where `--provider hf --model DIR` loads it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    texts = []
    for path in sorted(corpus.glob("*.json")):
        texts.append(path.read_text(encoding="utf-8")[:200_000])
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=2000 if quick else 32000, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="<unk>")  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    shape = dict(TINY if quick else QWEN25_05B_LAYERS, vocab_size=len(fast), eos_token_id=fast.eos_token_id,
                 pad_token_id=fast.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**shape)).to(torch.bfloat16)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def build_embedder(directory: Path, corpus: Path) -> Path:
    """A small random BERT with a WordPiece vocabulary trained on the corpus: the index's dense half without
    downloading all-MiniLM-L6-v2 (the check measures the generator's energy, not retrieval quality)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = [path.read_text(encoding="utf-8")[:100_000] for path in sorted(corpus.glob("*.json"))]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=4000, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    names = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=512, **names)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(fast), hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=256, max_position_embeddings=512)  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def build_large_model(directory: Path, tokenizer_dir: Path, shape: dict[str, Any]) -> Path:
    """A random-weight model of `shape` (bf16, built on the GPU when there is one), saved with the small model's
    tokenizer (its vocabulary fits in any shape's embedding rows), since an hf engine loads from a directory."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = Qwen2Config(**dict(shape, vocab_size=max(shape.get("vocab_size", 0), len(tokenizer)),
                                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))  # fmt: skip
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return directory
