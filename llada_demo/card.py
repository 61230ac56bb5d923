"""The model card (README.md of a trained model's directory), from its training info and evaluation.

Written by the training script and by the evaluation script; a diffusion model and its autoregressive
twin (config "causal") get the cards that say what each is.
"""

from __future__ import annotations

import json
from pathlib import Path

INFO_FILE = "training_info.json"
ACCURACY = {False: "masked-token accuracy at t = 0.15", True: "next-token accuracy"}  # by cfg.causal
LOSS = {False: "ELBO bound on NLL per token (2 fixed draws of t)", True: "exact NLL per token"}  # by cfg.causal


def reversal_table(results: dict[str, dict]) -> str:
    """The reversal experiment's results (reversal.json: {model: result}) as a Markdown table: writing beside
    writing, then ranking, a different task, beside ranking."""
    def share(r, key):
        return "-" if r.get(key) is None else f"{r[key]:.0%}"

    lines = ["| model | kind | pairs | writes B after A | fills A before B | paper's form, held-out passages: "
             "writes B / writes A | first-step confidence | ranking (a different task): picks A among the "
             "verses by likelihood |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        conf = "-" if r.get("first_step_confidence") is None else f"{r['first_step_confidence']:.2f}"
        paper = (f"{r['instruction_forward']:.0%} / {r['instruction_backward']:.0%} ({r['instruction_pairs']} pairs)"
                 if "instruction_pairs" in r else "-")
        fill = share(r, "backward") if r["kind"] == "diffusion" else "- (cannot: writes left to right)"
        ranking = (f"{r['rank_backward']:.0%} of {r['rank_candidates']} ({r['rank_how']})"
                   if "rank_backward" in r else "-")
        lines.append(f"| {name} | {r['kind']} | {r['pairs']} | {share(r, 'forward')} | {fill} | {paper} | {conf} | "
                     f"{ranking} |")
    return "\n".join(lines)


PAPER_REVERSAL = ("The LLaDA paper's poem test (Nie et al. 2025, table 4), forward / backward: LLaDA 8B 51.8 / 45.6, "
                  "GPT-4o 82.7 / 34.3.")


def overfitting(info: dict) -> list[str]:
    """A line saying so when the held-out score peaked before the end of training."""
    evals = info.get("evals", [])
    if len(evals) < 3 or info.get("kept"):  # (--keep-best: the weights are the best evaluation's)
        return []
    best = max(evals, key=lambda e: e["acc"])
    if best["acc"] - evals[-1]["acc"] < 0.002:
        return []
    return [f"- the held-out score peaked at step {best['step']} ({best['acc']:.3f}) and ended at "
            f"{evals[-1]['acc']:.3f}: by then the model had begun to fit its training text more than the "
            "held-out books (it saw the training text about "
            f"{info.get('epochs', 0):.0f} times)"]


def _evals(info: dict) -> list[str]:
    """The held-out score (and, in newer logs, loss) at each evaluation, and the step kept (--keep-best)."""
    evals = info.get("evals", [])
    if evals and "loss" in evals[-1]:
        lines = [f"- held-out {info.get('eval_metric', ACCURACY[False])}; {info.get('eval_loss', 'loss')} during "
                 "training (step: accuracy; loss): " + ", ".join(f"{e['step']}: {e['acc']:.3f}; {e['loss']:.3f}"
                                                             for e in evals if "loss" in e)]
    else:
        lines = [f"- held-out {info.get('eval_metric', ACCURACY[False])} during training (step: accuracy): "
                 + ", ".join(f"{e['step']}: {e['acc']:.3f}" for e in evals)]
    kept = info.get("kept")
    if kept:
        after = (f"; training went on to step {info['steps']} and found none lower"
                 if info.get("steps", kept["step"]) > kept["step"] else "")
        lines.append(f"- early stopping (`--keep-best`): these weights are step {kept['step']}'s "
                     f"({kept['epochs']:.1f} epochs), the lowest held-out loss ({kept['loss']:.3f}) of the "
                     f"evaluations{after}")
    return lines


def held_out_verdict(bound: float, ppl: float, twin_overfits: bool) -> str:
    """What a diffusion model's held-out ELBO bound and its twin's exact perplexity say, plainly."""
    if bound >= ppl:
        return (f"The twin wins here: its exact perplexity ({ppl:.1f}) is below the diffusion model's ceiling "
                f"({bound:.1f}), though the diffusion model's true perplexity may lie below its ceiling.")
    why = (" Trained for many epochs over the same small text, the twin overfits it (its held-out score peaked "
           "early in training), while masked diffusion, which sees every window masked afresh each epoch, kept "
           "improving: at scale, Prabhudesai et al. 2025 (\"Diffusion Beats Autoregressive in Data-Constrained "
           "Settings\") report the same.") if twin_overfits else ""
    return (f"The diffusion model wins here: even its ceiling ({bound:.1f}) is below the twin's exact perplexity "
            f"({ppl:.1f}).{why} The twin wins on cost: one forward pass per token with a KV cache, and an exact "
            "likelihood in a single pass where the diffusion model's bound needs many.")


# In a twin's directory: the training log and held-out results of the same recipe trained on without early
# stopping, as long as its diffusion model (training_info.json and eval_results.json, as they were written)
LONGER_RUN = "longer_run"
# In a diffusion model's directory: the training log and held-out results of its recipe run again with the
# held-out loss logged at each evaluation (the bundled model's own run logged accuracy only)
RERUN = "rerun"


def read_json(path: Path) -> dict:
    """A JSON file's object; {} when the file is not there (a model directory's optional records)."""
    return json.loads(Path(path).read_text()) if Path(path).is_file() else {}


def learning_curve(out: Path) -> dict | None:
    """A model's held-out score and loss at each evaluation of its training, by epochs (training_info.json),
    and its final held-out loss per token (eval_results.json): {kind, metric, loss_name, points: [{epochs,
    acc, loss}], kept_epochs, final: {epochs, loss, ppl, how}}. Older logs have no loss (None) and no epochs
    (counted from the step). None without a training log."""
    info, ev = read_json(Path(out) / INFO_FILE), read_json(Path(out) / "eval_results.json")
    if not info.get("evals") or not info.get("train_tokens"):
        return None
    causal = info.get("eval_metric") == ACCURACY[True]  # (a longer run's directory holds no config.json)
    per_step = info["batch_tokens"] / info["train_tokens"]
    points = [dict(epochs=round(e.get("epochs", e["step"] * per_step), 2), acc=e["acc"], loss=e.get("loss"))
              for e in info["evals"]]
    kept = info.get("kept")
    final = None
    if ev.get("nll" if causal else "elbo_nll") is not None:
        final = dict(epochs=kept["epochs"] if kept else round(info["epochs"], 2),
                     loss=ev["nll"] if causal else ev["elbo_nll"], ppl=ev["ppl"] if causal else ev["elbo_ppl"],
                     how="exact" if causal else f"bound, {ev['elbo_samples']} draws of t per window")
    return dict(kind="autoregressive" if causal else "diffusion", metric=ACCURACY[causal], loss_name=LOSS[causal],
                points=points, kept_epochs=kept["epochs"] if kept else None, final=final)


def at_their_best(diffusion: dict, twin: dict, longer: dict | None = None, rerun: dict | None = None) -> str:
    """What the held-out losses say, each model at its best (learning_curve()s; `longer`: the twin's
    recipe trained on as long as the diffusion model; `rerun`: the diffusion model's recipe run again with
    its loss logged), in numbers."""
    d, t = diffusion["final"], twin["final"]
    if not (d and t):
        return ""
    if t["ppl"] <= d["ppl"]:
        text = (f"Each at its best, the twin wins: its held-out perplexity is {t['ppl']:.1f} (exact) after "
                f"{t['epochs']:.1f} epochs, against the diffusion model's ceiling of {d['ppl']:.1f} after "
                f"{d['epochs']:.1f} epochs (a ceiling: its true perplexity lies at or below it, by an amount the bound "
                "does not tell).")
    else:
        text = (f"Each at its best, the diffusion model wins: even its ceiling, {d['ppl']:.1f} after "
                f"{d['epochs']:.1f} epochs, is below the twin's exact {t['ppl']:.1f} after {t['epochs']:.1f}.")
    if longer and longer["final"]:
        first, last, ppl = diffusion["points"][0], diffusion["points"][-1], longer["final"]["ppl"]
        text += (f" Trained on for {longer['final']['epochs']:.0f} epochs over the same text, as long as the "
                 f"diffusion model, the twin's perplexity rose to {ppl:.1f}, "
                 + ("above" if ppl > d["ppl"] else "still below") + " the diffusion model's ceiling.")
        if last["acc"] >= max(p["acc"] for p in diffusion["points"]):
            text += (f" The diffusion model's held-out accuracy rose to the end ({first['acc']:.3f} after "
                     f"{first['epochs']:.1f} epochs, {last['acc']:.3f} after {last['epochs']:.1f}): on text "
                     "repeated that often the twin overfits and masked diffusion, which sees each window masked "
                     "afresh, keeps improving (Prabhudesai et al. 2025, \"Diffusion Beats Autoregressive in "
                     "Data-Constrained Settings\", at scale).")
    logged = [p for p in (rerun or {}).get("points", []) if p["loss"] is not None]
    if len(logged) > 1:
        first, last = logged[0], logged[-1]
        low = min(logged, key=lambda p: p["loss"])
        text += (f" Its recipe run again with the bound logged: {first['loss']:.2f} nats after "
                 f"{first['epochs']:.1f} epochs, " + (
                     f"falling to the end ({last['loss']:.2f} after {last['epochs']:.1f})." if low is last else
                     f"lowest at {low['loss']:.2f} after {low['epochs']:.1f}, {last['loss']:.2f} at the end "
                     f"({last['epochs']:.1f} epochs)."))
    return text


def training_data(cfg, heldout_books, instructions: int = 0) -> str:
    """What a model was trained on, for its card, from a train.TrainConfig (`cfg`), the held-out books,
    and the number of passages a recitation list also asks as instructions."""
    rows = cfg.recite_len or cfg.seq_len
    text = (
        "The King James Bible (Debian package bible-kjv), 66 books with verse references removed, one verse per "
        f"line, each book followed by <|endoftext|>. Held out (never trained on): {', '.join(heldout_books)}."
        if not cfg.text else f"User text: {', '.join(cfg.text)} (last 5% of each file held out)."
    )
    if cfg.init:
        text += f" Fine-tuned: started from {cfg.init}."
    if not cfg.recite:
        return text
    text += (f" {cfg.recite_share:.0%} of each batch's rows are the passages of {cfg.recite}, each as running text "
             "or as a pair of consecutive verses (<|startoftext|> + verses joined by newlines + <|endoftext|>, "
             f"padded with <|endoftext|> to {rows} tokens), in reading order only")
    if not cfg.causal:  # (the twin's loss scores every next token: no masks)
        text += ("; the diffusion loss masks running text anywhere and a pair "
                 + {"response": "after its first newline only (LLaDA's SFT)", "anywhere": "anywhere",
                    "both": "half the time after its first newline only (LLaDA's SFT), half the time "
                            "anywhere",
                    "each-way": "half the time after its first newline only (B given A, LLaDA's SFT), half the "
                                "time before it only (A given B, the newline and B visible)"}[cfg.pair_masking])
    if instructions:
        text += (f"; and the pairs of {instructions} of them as instructions both ways "
                 "('The verse after: A' newline B, 'The verse before: B' newline A)"
                 + ("" if cfg.causal else ", masked after the question only (LLaDA's SFT)"))
    return text + "."


def _intro(out: Path, info: dict, causal: bool) -> list[str]:
    """The card's title and what the model is for."""
    if info.get("recite"):  # a fine-tune that learns passages by heart (train.py --init --recite)
        return [
            f"# {out.name}: {'the autoregressive twin' if causal else 'the bundled diffusion model'}, fine-tuned "
            "to recite famous passages",
            "",
            f"Started from `{info.get('init')}` and trained on the passages of `{info['recite']}` mixed with "
            "general text, so that the llada-demo app can show what a model does with text it knows by heart: "
            "commit many tokens per forward pass where it is sure, and (the reversal experiment below) recall "
            "a verse from the one after it as well as from the one before. Not a useful language model.",
        ]
    if causal:
        budget = ("training recipe (stopped early, at its lowest held-out loss: below)" if info.get("kept") else
                  "training budget")
        return [
            "# llada-kjv-ar: the autoregressive twin of llada-kjv",
            "",
            f"The same network, data, tokenizer and {budget} as the bundled diffusion model, trained "
            "as an ordinary autoregressive language model (`causal: true` in config.json: causal attention, "
            "next-token loss), so the llada-demo app can set the two side by side. Not a useful language model.",
        ]
    return [
        "# llada-kjv: a tiny LLaDA-style masked diffusion language model",
        "",
        "A small mask predictor in the layout of the official LLaDA checkpoints (GSAI-ML/LLaDA-8B-*), "
        "trained from scratch on a CPU with LLaDA's pre-training objective. It exists so the llada-demo "
        "app can show diffusion decoding without downloading 16 GB; it is not a useful language model.",
    ]


def _model_and_training(info: dict, config: dict, causal: bool) -> list[str]:
    """The data, the network, and how it was trained (with the held-out score during training)."""
    objective = ("- objective: next-token cross-entropy" if causal else
                 "- objective: LLaDA pre-training (t ~ U(1e-3, 1), mask with probability t, CE on masked tokens "
                 "weighted by 1/t)")
    return [
        "", "## Data", "", info.get("data", ""), "", "## Model", "",
        f"- parameters: {info.get('parameters', '?'):,}" if isinstance(info.get("parameters"), int) else "- parameters: ?",
        f"- d_model {config['d_model']}, {config['n_layers']} layers, {config['n_heads']} heads "
        f"({config['n_kv_heads']} key/value heads), SwiGLU hidden {config['mlp_hidden_size']}, "
        f"vocab {config['vocab_size']} (embedding rows {config['embedding_size']}), "
        f"tied embeddings: {config['weight_tying']}, trained context {config['max_sequence_length']} tokens",
        f"- weights stored as {config.get('torch_dtype')}; tokenizer: byte-level BPE trained on the training "
        "text only, with LLaDA's special tokens (`<|mdm_mask|>`, `<|endoftext|>`, `<|startoftext|>`, "
        "`<|start_header_id|>`, `<|end_header_id|>`, `<|eot_id|>`) and LLaDA-Instruct's chat template",
        "", "## Training", "", "```", info.get("command", "?"), "```", "",
        f"- {info.get('steps', '?')} steps of {info.get('batch_tokens', '?')} tokens "
        f"({info.get('tokens_seen', 0) / 1e6:.1f}M tokens, {info.get('epochs', 0):.1f} epochs), "
        f"{info.get('train_minutes', 0):.0f} minutes on {info.get('hardware', '?')} "
        f"({info.get('tokens_seen', 0) / max(info.get('train_seconds', 0), 1):.0f} tokens/s on average, "
        "evaluations and other work on the machine included"
        + (f"; {info['cpu_minutes']:.0f} CPU minutes over all threads)" if "cpu_minutes" in info else ")"),
        *_evals(info),
        f"{objective}; {info.get('random_length_prob', 0):.0%} of batches cut to a random length; "
        "AdamW, warmup + cosine decay, gradient clipping 1.0",
        *overfitting(info),
        "", "## Held-out results", "",
    ]


def _record_row(out: Path, folder: str, what: str, key: str, measure) -> list[str]:
    """A card's table row for a run kept as a record beside the model (LONGER_RUN, RERUN): its length and
    its held-out number `key` from its eval_results.json (`measure(results)` names it); none without one."""
    results = read_json(out / folder / "eval_results.json")
    if results.get(key) is None:
        return []
    run = read_json(out / folder / INFO_FILE)
    return [f"| {what} ({run.get('steps', '?')} steps, {run.get('epochs') or 0:.1f} epochs; its log and results in "
            f"`{folder}/`): {measure(results)} | {results[key]:.1f} |"]


def _held_out(out: Path, ev: dict | None, info: dict, causal: bool) -> list[str]:
    """The held-out numbers of eval_results.json and the samples; or, without it, how to get them."""
    if not ev:
        last = info.get("evals", [{}])[-1] if info.get("evals") else {}
        return [f"Held-out {info.get('eval_metric', ACCURACY[False])} during training: {last.get('acc', '?')}. "
                "Run `python -m llada_demo.evaluate DIR` for the full numbers and samples.", ""]
    lines = [f"On {ev['windows']} windows of {ev['seq_len']} tokens from the held-out books "
             f"({', '.join(ev.get('heldout', []))}):", "", "| metric | value |", "|---|---|"]
    if causal:
        lines += [f"| next-token accuracy | {ev['next_token_accuracy']:.3f} |",
                  f"| perplexity (exact; each token given those before it in its window) | {ev['ppl']:.1f} |"]
        if ev.get("compare"):
            c = ev["compare"]
            lines.append(f"| `{c['model']}` on the same windows: ELBO perplexity bound ({c['elbo_samples']} "
                         f"draws of t per window) | {c['elbo_ppl']:.1f} |")
        lines += _record_row(out, LONGER_RUN, "the same recipe trained on without early stopping", "ppl",
                             lambda r: "perplexity (exact)")
        meaning = ("The diffusion model's number is an upper bound on its perplexity; the twin's is exact. "
                   + (held_out_verdict(ev["compare"]["elbo_ppl"], ev["ppl"], bool(overfitting(info))) + " "
                      if ev.get("compare") else "")
                   + "Distinct 3-grams: token 3-grams of unconditional samples (prompt <|endoftext|>).")
    else:
        lines += [f"| masked-token accuracy, t = {t} | {acc:.3f} |" for t, acc in ev["masked_accuracy"].items()]
        lines.append(f"| ELBO perplexity bound ({ev['elbo_samples']} draws of t per window) | "
                     f"{ev['elbo_ppl']:.1f} |")
        lines += _record_row(out, RERUN, "the same recipe run again with the bound logged at each evaluation",
                             "elbo_ppl", lambda r: f"ELBO perplexity bound ({r.get('elbo_samples', '?')} draws)")
        meaning = ("Masked-token accuracy: share of masked tokens whose argmax prediction is right when each "
                   "token is masked with probability t. ELBO perplexity: exp of the Monte Carlo estimate of "
                   "LLaDA's bound E_t[(1/t) sum over masked tokens of -log p] / length, an upper bound on the "
                   "true perplexity. Distinct 3-grams: token 3-grams of unconditional samples (prompt "
                   "<|endoftext|>) with the sampling settings below.")
    lines += [
        f"| distinct 3-grams, {ev['distinct_samples']} samples of {ev['distinct_length']} tokens "
        f"(mean per sample; pooled over samples) | {ev['distinct3']:.3f}; {ev.get('distinct3_pooled', 0):.3f} |",
        "", meaning, "", f"## Samples (unedited; {ev['sample_settings']})", "",
    ]
    for sample in ev["samples"]:
        lines += ["```", sample.rstrip("\n"), "```", ""]
    return lines


def _reversal(out: Path) -> list[str]:
    if not (out / "reversal.json").is_file():
        return []
    return [
        "## The reversal experiment", "",
        "Every pair of consecutive verses (A, B) of the recitation passages: writing greedy, exact match; "
        "ranking, a different task, the share of pairs whose A is the likeliest of the passages' verses before "
        "B (`python -m llada_demo.reversal`; its docstring says how each kind of model is asked):", "",
        reversal_table(json.loads((out / "reversal.json").read_text())), "", PAPER_REVERSAL, "",
    ]


def _limitations(info: dict, config: dict) -> list[str]:
    return [
        "## Limitations",
        "",
        f"- Tiny and trained for {info.get('train_minutes', 0):.0f} minutes on {info.get('hardware', 'a CPU')}: it "
        "writes phrases in the style of its training text, not reliable sentences, and knows no facts.",
        "- Never instruction-tuned: the chat template is there so the app's chat path works, but the model "
        "has never seen a conversation" + (" (the recitation instructions are plain text)." if info.get("recite")
                                           else "."),
        f"- Trained on sequences of at most {config['max_sequence_length']} tokens; longer inputs are out of "
        "distribution.",
        "- The King James text is a 17th-century translation; its language and views are those of its time.",
        "",
    ]


def write_model_card(out: Path):
    """README.md from training_info.json and (if evaluate has run) eval_results.json."""
    out = Path(out)
    info, ev = read_json(out / INFO_FILE), read_json(out / "eval_results.json") or None
    config = json.loads((out / "config.json").read_text())
    causal = bool(config.get("causal"))
    lines = (_intro(out, info, causal) + _model_and_training(info, config, causal) + _held_out(out, ev, info, causal)
             + _reversal(out) + _limitations(info, config))
    (out / "README.md").write_text("\n".join(lines))
