"""An independent, deliberately naive statement of LLaDA's greedy reverse process (generate.py semantics:
temperature 0, low_confidence remasking, optional CFG), used as a test oracle for llada_demo.generate.

Plain Python over positions, no shared code with llada_demo.sampling.schedule: if both agree, neither is likely
to have misread the algorithm the same way.
"""

import math

import torch


def naive_generate(model, prompt, steps, gen_length, block_length, mask_id, cfg_scale=0.0, attention_mask=None):
    rows = []
    for r in range(prompt.shape[0]):
        rows.append(list(prompt[r].tolist()) + [mask_id] * gen_length)
    L = prompt.shape[1]
    is_prompt = [[tok != mask_id for tok in row[:L]] + [False] * gen_length for row in rows]
    n_blocks = gen_length // block_length
    per_block = steps // n_blocks
    am = None
    if attention_mask is not None:
        am = torch.cat([attention_mask, torch.ones(prompt.shape[0], gen_length, dtype=attention_mask.dtype)], 1)
    for blk in range(n_blocks):
        end = L + (blk + 1) * block_length
        todo = []
        for row in rows:
            n = sum(1 for p in range(L + blk * block_length, end) if row[p] == mask_id)
            todo.append([n // per_block + (1 if k < n % per_block else 0) for k in range(per_block)])
        for k in range(per_block):
            x = torch.tensor(rows)
            with torch.no_grad():
                if cfg_scale > 0:
                    u = torch.tensor([[mask_id if is_prompt[r][p] else rows[r][p] for p in range(len(rows[r]))]
                                      for r in range(len(rows))])
                    a2 = None if am is None else torch.cat([am, am])
                    both = model(torch.cat([x, u]), attention_mask=a2).logits
                    c, un = both[: len(rows)], both[len(rows):]
                    logits = un + (cfg_scale + 1) * (c - un)
                else:
                    logits = model(x, attention_mask=am).logits
            for r, row in enumerate(rows):
                scored = []
                for p in range(end):
                    if row[p] != mask_id:
                        continue
                    lg = logits[r, p].tolist()
                    best = max(range(len(lg)), key=lambda v: (lg[v], -v))
                    z = sum(math.exp(v - lg[best]) for v in lg)
                    scored.append((1.0 / z, p, best))
                scored.sort(key=lambda s: (-s[0], s[1]))
                for _, p, tok in scored[: todo[r][k]]:
                    row[p] = tok
    return torch.tensor(rows)
