"""Token texts for the views: what each id decodes to, decoded once per id and cached."""

from __future__ import annotations


class TokenText:
    """Display strings of token ids (decoded one by one, cached). Plain text: the drawer escapes it."""

    def __init__(self, tokenizer=None, mask_id: int | None = None):
        self.tokenizer, self.mask_id, self._cache = tokenizer, mask_id, {}

    def __call__(self, token_id: int) -> str:
        token_id = int(token_id)
        if token_id not in self._cache:
            if self.tokenizer is None:
                text = f"#{token_id}"
            else:
                text = self.tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
            self._cache[token_id] = text
        return self._cache[token_id]
