"""From what the user typed to token ids: chat or completion prompts, infill texts, fixed tokens.

Errors are ValueErrors whose message the UI shows as it is.
"""

from __future__ import annotations

import re

MASK_PLACEHOLDER = "[MASK]"


def typed_ids(tokenizer, text: str) -> list[int]:
    """Ids of what a user typed: a special token's text (say "<|mdm_mask|>") stays text."""
    return tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def _defang(tokenizer, text: str) -> str:
    """Typed special-token text, made unable to act as one inside a chat template (a zero-width space
    after its first character), so a user cannot forge turns or masks."""
    for special in tokenizer.all_special_tokens + [t.content for t in tokenizer.added_tokens_decoder.values()]:
        if special and special in text:
            text = text.replace(special, special[0] + "\u200b" + special[1:])
    return text


def message_text(content) -> str:
    """A chat message's text, whether a string or Gradio's list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return "".join(message_text(part) for part in content or [] if not isinstance(part, dict)
                   or part.get("type", "text") == "text")


def prompt_ids(loaded, text: str, history=(), chat: bool = False) -> list[int]:
    """Token ids of the prompt. Chat models: the conversation so far plus `text` in the model's chat
    template, ending with the assistant header. Others: BOS (if any) + `text`, to be continued."""
    tok = loaded.tokenizer
    if tok is None:
        raise ValueError("this model has no tokenizer, so it cannot read text")
    if chat:
        messages = [{"role": m["role"], "content": _defang(tok, message_text(m["content"]))} for m in history]
        messages = [m for m in messages if m["content"]]
        messages.append({"role": "user", "content": _defang(tok, text)})
        rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return tok(rendered, add_special_tokens=False)["input_ids"]  # the template's own special tokens act
    ids = typed_ids(tok, text)
    if tok.bos_token_id is not None:
        ids = [tok.bos_token_id] + ids
    return ids


def infill_ids(loaded, text: str, placeholder: str = MASK_PLACEHOLDER) -> list[int]:
    """Token ids of a text with `placeholder`s, each one becoming one mask token, in place."""
    tok = loaded.tokenizer
    if tok is None:
        raise ValueError("this model has no tokenizer, so it cannot read text")
    pieces = text.split(placeholder)
    if len(pieces) == 1:
        raise ValueError(f"infill mode: put {placeholder} where the model should write, one per token, "
                         f"e.g. 'In the beginning {placeholder}{placeholder} created'")
    ids = [tok.bos_token_id] if tok.bos_token_id is not None else []
    for i, piece in enumerate(pieces):
        if piece:
            ids += typed_ids(tok, piece)
        if i < len(pieces) - 1:
            ids.append(loaded.mask_id)
    return ids


_CONSTRAINT = re.compile(r"^\s*(\d+)\s*:(.*)$", re.S)


def parse_constraints(loaded, spec: str, gen_length: int) -> dict[int, int]:
    """'0: In, 5: the' -> {answer position: token id}. A text of several tokens fills consecutive
    positions from the one given."""
    out: dict[int, int] = {}
    if not spec or not spec.strip():
        return out
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _CONSTRAINT.match(part)
        if not m:
            raise ValueError(f"fixed tokens: {part.strip()!r} is not 'position: text' (e.g. '0: In, 5: the')")
        pos, text = int(m.group(1)), m.group(2).strip()
        if not text:
            raise ValueError(f"fixed tokens: position {pos} has no text")
        ids = typed_ids(loaded.tokenizer, (" " + text) if pos > 0 else text)
        for k, tid in enumerate(ids):
            if not 0 <= pos + k < gen_length:
                raise ValueError(f"fixed tokens: position {pos + k} is outside the answer (0..{gen_length - 1})")
            if pos + k in out:
                raise ValueError(f"fixed tokens: {text!r} at {pos} needs position {pos + k}, which an earlier "
                                 f"entry already fixes; move one of them")
            out[pos + k] = tid
    return out
