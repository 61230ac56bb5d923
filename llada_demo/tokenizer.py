"""A small byte-level BPE tokenizer with LLaDA's special tokens and chat template.

Byte-level means every string (spaces, newlines, any Unicode) encodes and decodes back exactly.
It is trained on the training text only, so held-out text is tokenized like any unseen text.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS, BOS, MASK = "<|endoftext|>", "<|startoftext|>", "<|mdm_mask|>"
HEADER_START, HEADER_END, EOT = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"
SPECIAL_TOKENS = [EOS, BOS, MASK, HEADER_START, HEADER_END, EOT]  # ids 0..5, in this order

# LLaDA-8B-Instruct's chat format: BOS once, then each message as
# <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>; the generation prompt opens an assistant turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def train_tokenizer(texts, vocab_size: int = 4096, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on an iterable of strings and wrap it for transformers."""
    tok = Tokenizer(models.BPE())
    # add_prefix_space=False: the first word of a text is encoded as written, so decode(encode(s)) == s
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, so nothing is ever unknown
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap(tok)


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """The transformers view: special tokens named, chat template attached."""
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,  # as in LLaDA: padding is EOS
        mask_token=MASK,
        additional_special_tokens=[HEADER_START, HEADER_END, EOT],
        clean_up_tokenization_spaces=False,  # keep text exactly as encoded
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
