"""Likelihood: candidate answers to a prompt scored with LLaDA's Monte Carlo bound on log p(answer | prompt),
streamed as the samples accumulate, with the autoregressive twin's exact numbers beside them; and, from the
training logs, the two models' held-out loss and accuracy over epochs, each at its best."""

from __future__ import annotations

import gradio as gr
import torch

from ...card import INFO_FILE, LONGER_RUN, RERUN, at_their_best, held_out_verdict, learning_curve, overfitting, read_json
from ...likelihood import bound_samples, estimate, log_likelihoods
from ...prompts import prompt_ids
from ...sampling.settings import finite_number, seed_number, whole_number
from ..errors import page_handler, text_input, warn
from ..session import Activity
from ..widgets import CLOSE_TOASTS, data_view

PROMPT = "In the beginning God created the heaven and"
CANDIDATES = "the earth.\nthe sea.\na great city."
MAX_CANDIDATES = 8  # answers scored at once
BATCH = 16  # Monte Carlo samples per forward pass, and per update of the page
# tokens one scoring may pass through the model (each sample of each answer: prompt + answer, twice with
# CFG): about 30 s for the bundled model on 2 CPU cores (docs/performance.md), a few on a GPU
BUDGET = 200_000
NO_SPACE_BEFORE = ".,;:!?)]}'\""  # a candidate starting with these joins the prompt as typed


def joined(prompt: str, candidate: str) -> str:
    """The answer as a person would write it after the prompt: a candidate typed without a leading space
    after a prompt that ends in a word gets one space ("...heaven and" + "the earth." -> " the earth.")."""
    if prompt and not prompt[-1].isspace() and candidate and not candidate[0].isspace() \
            and candidate[0] not in NO_SPACE_BEFORE:
        return " " + candidate
    return candidate


def candidate_lines(text: str) -> list[str]:
    """One candidate per line: split at line breaks only (str.splitlines also splits at U+2028, U+001C and
    others), blank lines left out, a candidate typed twice kept once (with a warning)."""
    lines = [c.rstrip("\r") for c in text.split("\n") if c.strip()]
    unique = list(dict.fromkeys(lines))
    if len(unique) < len(lines):
        twice = next(c for c in unique if lines.count(c) > 1)
        warn(f"{twice!r} is there more than once: it is scored once.")
    return unique


def check_budget(prompt: int, answers: list[int], mc_samples: int, cfg_scale: float) -> None:
    """A scoring that would pass more than BUDGET tokens through the model is refused, saying what to lower."""
    per_sample = sum(prompt + a for a in answers) * (2 if cfg_scale > 0 else 1)
    if per_sample * mc_samples <= BUDGET:
        return
    most = BUDGET // per_sample
    raise gr.Error(f"Scoring these {len(answers)} answers {mc_samples} times would pass {per_sample * mc_samples:,} "
                   f"tokens through the model, more than the {BUDGET:,} one scoring may take here: "
                   + (f"lower the Monte Carlo samples to {most - most % 2} or fewer" if most >= 2 else
                      "score fewer or shorter answers") + (", or set the CFG scale to 0" if cfg_scale > 0 else "") + ".")


def held_out_numbers(diffusion, twin) -> str | None:
    """A sentence with the two models' held-out perplexities from their cards (eval_results.json), or
    None when either card lacks them."""
    def results(choice, name="eval_results.json"):
        return read_json(choice.directory / name)

    d, t = results(diffusion), results(twin)
    if "elbo_ppl" not in d or "ppl" not in t:
        return None
    return (f"On the held-out books (their cards): the diffusion model's perplexity is at most {d['elbo_ppl']:.1f} "
            f"(LLaDA's bound, an upper limit), the twin's is {t['ppl']:.1f} (exact). The bound is not the diffusion "
            "model's perplexity, only a ceiling on it; the twin's number is its perplexity. On the answers above, "
            "the same holds: the diffusion bar is a lower bound on the log-likelihood, the twin's is exact. "
            + held_out_verdict(d["elbo_ppl"], t["ppl"], bool(overfitting(results(twin, INFO_FILE)))))


class LikelihoodTab:
    def __init__(self, app, tab: gr.Tab):
        self.app = app
        gr.Markdown("**How likely is an answer?** A diffusion model has no left-to-right probability; LLaDA scores "
                    "an answer with a lower bound on log p(answer | prompt), estimated by Monte Carlo: mask a random "
                    "number of the answer's tokens, score the masked ones, weight by how many were masked, and "
                    "average. The estimate sharpens as samples accumulate (bars: mean ± standard error, in nats; "
                    "higher is more likely).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                self.prompt = gr.Textbox(value=PROMPT, lines=2, label="Prompt")
                self.candidates = gr.Textbox(value=CANDIDATES, lines=4, label="Candidate answers (one per line)",
                                             info="each follows the prompt as you would write it: after a word, with "
                                                  "a space")
                self.samples = gr.Slider(16, 512, value=128, step=16, label="Monte Carlo samples")
                self.cfg = gr.Slider(0, 5, value=0, step=0.1, label="CFG scale (likelihood)")
                self.seed = gr.Number(value=0, precision=0, label="Seed (likelihood)")
                with gr.Row():
                    self.score_button = gr.Button("Score", variant="primary")
                    self.stop_button = gr.Button("Stop", variant="stop")
            with gr.Column(scale=3, min_width=320):
                self.view = data_view("ld-likelihood-root", "mountLikelihood", "candidates", "ld-likelihood")
        self.score_button.click(None, js=CLOSE_TOASTS, api_visibility="private")
        self.score_button.click(self.score, [self.prompt, self.candidates, self.samples, self.cfg, self.seed,
                                             app.current], self.view, api_visibility="private",
                                concurrency_id="model", show_progress="hidden")
        self.stop_button.click(app.stop, None, None, api_visibility="private", concurrency_limit=None,
                               show_progress="hidden")
        gr.Markdown("**Over training.** Held-out loss and accuracy of the chosen diffusion model and its twin at "
                    "each evaluation of their training, by epochs over the same text, from their training logs.")
        self.curves = data_view("ld-curves-root", "mountCurves", "runs", "ld-curves")
        tab.select(self.learning_curves, app.current, self.curves, api_visibility="private", show_progress="hidden")

    @page_handler
    def score(self, prompt, candidates, mc_samples, cfg_scale, seed, model: str | None = None,
              request: gr.Request = None):
        """Each candidate scored with LLaDA's Monte Carlo bound, streamed as the samples accumulate;
        beside it, the exact log-likelihood from the autoregressive twin when we ship one for this model.
        The tab's Stop ends it before the next forward pass, keeping the estimates so far."""
        app = self.app
        prompt = text_input("The prompt", prompt, required=True)
        typed = candidate_lines(text_input("The candidates", candidates))
        if not prompt.strip() or not typed:
            raise gr.Error("Type a prompt and at least one candidate answer (one per line).")
        if len(typed) > MAX_CANDIDATES:
            raise gr.Error(f"At most {MAX_CANDIDATES} candidates, one per line; there are {len(typed)}.")
        try:
            mc_samples = whole_number("Monte Carlo samples", mc_samples, minimum=2)
            cfg_scale = finite_number("CFG scale", cfg_scale)
            seed = seed_number(0 if seed is None or seed == "" else seed)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        choice, loaded = app.diffusion_model(model, "choose a diffusion model; the tab shows its twin's exact "
                                                    "numbers beside it")
        context = prompt_ids(loaded, prompt, chat=choice.chat)
        answers = [joined(prompt, c) for c in typed]
        ids = [loaded.tokenizer.encode(a, add_special_tokens=False) for a in answers]
        limit = loaded.model.config.max_sequence_length
        if any(len(context) + len(a) > limit for a in ids):
            raise gr.Error(f"Prompt plus answer must fit the model's {limit} tokens: shorten them.")
        check_budget(len(context), [len(a) for a in ids], mc_samples, cfg_scale)
        exact, twin, cards = self.twin_scores(choice, loaded, context, ids)
        streams = [bound_samples(loaded, context, a, mc_samples=mc_samples, batch_size=BATCH, cfg_scale=cfg_scale,
                                 seed=seed) for a in ids]
        samples, done, activity = [[] for _ in ids], 0, Activity()

        def view(state: str) -> dict:
            stats = [estimate(torch.cat(s)) if s else (None, float("nan")) for s in samples]
            return {self.view: dict(
                model=choice.label, prompt=prompt, prompt_tokens=len(context), candidates=typed, scored=answers,
                tokens=[len(a) for a in ids], samples=done, total=mc_samples, estimates=[m for m, _ in stats],
                errors=[e if e == e else None for _, e in stats],  # NaN (one sample) is no error bar
                exact=exact, twin=twin.label if twin else None, cards=cards, done=state != "scoring", state=state)}

        app.sessions.of(request).run = activity
        try:
            while done < mc_samples:
                batch = []
                for stream in streams:  # Stop is checked before every forward pass
                    if activity.stop.is_set():
                        yield view("stopped")  # the last whole batch's estimates stand
                        return
                    batch.append(next(stream))
                for kept, new in zip(samples, batch):
                    kept.append(new)
                done = min(done + BATCH, mc_samples)
                yield view("done" if done >= mc_samples else "scoring")
        finally:
            activity.done.set()

    def learning_curves(self, model: str | None = None) -> dict:
        """The held-out curves of the chosen model (and its recipe's rerun with the loss logged, card.RERUN),
        its twin and the twin's longer run (card.LONGER_RUN), from their training logs, and what they say,
        each at its best (card.at_their_best). A model without a training log here (a hub model) gets a note
        instead."""
        app = self.app
        choice = app.choices.get(model or app.default.label, app.default)
        curve, twin = learning_curve(choice.directory), app.twin_of(choice)
        if curve is None:
            return {self.curves: dict(runs=[], model=choice.label, note=f"{choice.label}: no training log ships "
                                      "with it here; the bundled model and its twin have theirs.")}
        diffusion = curve["kind"] == "diffusion"
        there = twin.directory if diffusion and twin else None
        roles = dict(diffusion=(choice.label, curve),
                     rerun=(choice.label + ", its recipe run again (loss logged)",
                            learning_curve(choice.directory / RERUN) if diffusion else None),
                     twin=(twin and twin.label + ", kept (early stopping)", there and learning_curve(there)),
                     longer=(twin and twin.label + ", trained on without stopping",
                             there and learning_curve(there / LONGER_RUN)))
        runs = [dict(label=label, **c) for label, c in roles.values() if c]
        got = {role: c for role, (_, c) in roles.items()}
        if not diffusion:
            note = "Choose a diffusion model to see it beside its twin."
        else:
            note = at_their_best(**got) if got["twin"] else "No autoregressive twin of it with a training log ships here."
            if not got["rerun"] and all(p["loss"] is None for p in curve["points"]):
                note += (" Its training logged accuracy only: its loss is one point, the star of its final "
                         "evaluation.")
        return {self.curves: dict(runs=runs, model=choice.label, note=note.strip())}

    def twin_scores(self, choice, loaded, context, ids):
        """(exact log-likelihoods, twin, the cards' sentence) from the model's autoregressive twin, or Nones."""
        twin = self.app.twin_of(choice)
        if twin is None:
            return None, None, None
        try:
            twin_model = self.app.cache.get(twin)
        except Exception as e:  # a broken or half-written checkpoint: score without it, and say so
            warn(f"Could not load {twin.label}: {e}. Scoring without it.")
            return None, None, None
        if twin_model.tokenizer.backend_tokenizer.to_str() != loaded.tokenizer.backend_tokenizer.to_str():
            return None, None, None  # not a twin after all: its numbers would be of other tokens
        return log_likelihoods(twin_model, context, ids), twin, held_out_numbers(choice, twin)
