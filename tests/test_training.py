"""Training pipeline: tokenizer, objective, a tiny training run, resume, evaluation. Seconds, one thread."""

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from llada_demo import load_model
from llada_demo.corpus import HELDOUT_BOOKS, text_files_split
from llada_demo.evaluate import distinct_n, evaluate_dir
from llada_demo.model import LLaDAModelLM
from llada_demo.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, train_tokenizer
from llada_demo.likelihood import log_likelihood, log_likelihoods, mask_tokens
from llada_demo.card import at_their_best, learning_curve
from llada_demo.train import (TrainConfig, diffusion_loss, encode_docs, model_config, next_token_loss, recitation_batch,
                              recitation_rows, sample_batch, train)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
WORDS = ("and the lord spake unto moses saying speak unto the children of israel that they bring me an offering "
         "of every man that giveth it willingly with his heart ye shall take my offering").split()


def make_text(n_lines=600, seed=0) -> str:
    """Varied but learnable English-like lines: word pairs from a fixed list, in a seeded random walk."""
    g = torch.Generator().manual_seed(seed)
    lines = []
    for _ in range(n_lines):
        i = int(torch.randint(0, len(WORDS) - 8, (1,), generator=g))
        lines.append(" ".join(WORDS[i : i + 8]).capitalize() + ".")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer([make_text(300, seed=1)], vocab_size=300)


def tiny_cfg(out, text_file, **kw) -> TrainConfig:
    base = dict(out=str(out), text=(str(text_file),), seed=3, steps=20, vocab_size=300, d_model=32, n_layers=2,
                n_heads=4, n_kv_heads=2, mlp_hidden_size=64, seq_len=32, batch_size=8, lr=1e-2, warmup_steps=2,
                eval_every=10, eval_windows=8, threads=1, final_eval=False, save_dtype="float32")
    base.update(kw)
    return TrainConfig(**base)


def test_tokenizer_round_trip_through_autotokenizer(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)  # offline: only local files
    assert len(loaded) == len(tok) == 300
    ids = {t: loaded.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    assert sorted(ids.values()) == list(range(6))
    assert loaded.mask_token_id == ids["<|mdm_mask|>"]
    assert loaded.eos_token_id == loaded.pad_token_id == ids["<|endoftext|>"]
    assert loaded.bos_token_id == ids["<|startoftext|>"]
    for s in ["  leading spaces,\ttabs\n\n\nand newlines  ", "Ünïcödé ☃ 😀 never seen in training", "x"]:
        enc = loaded.encode(s, add_special_tokens=False)
        assert loaded.decode(enc) == s
    # special tokens are single ids, also inside text
    enc = loaded.encode("a<|mdm_mask|>b<|eot_id|>", add_special_tokens=False)
    assert ids["<|mdm_mask|>"] in enc and ids["<|eot_id|>"] in enc
    assert loaded.encode("hello", add_special_tokens=True) == loaded.encode("hello", add_special_tokens=False)


def test_chat_template_is_llada_instruct_form(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who spake?"}]
    text = loaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == ("<|startoftext|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nWho spake?<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")
    no_prompt = loaded.apply_chat_template(messages[1:], tokenize=False, add_generation_prompt=False)
    assert no_prompt.endswith("Who spake?<|eot_id|>")
    assert loaded.chat_template == CHAT_TEMPLATE


def test_masking_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(10, 100, (64, 512))
    noisy, masked, p = mask_tokens(x, 5, 1e-3, g, t=torch.full((64,), 0.3))
    assert abs(masked.float().mean().item() - 0.3) < 0.01
    assert torch.equal(noisy == 5, masked) and torch.equal(noisy[~masked], x[~masked])
    # random t: each row's masked share follows its own t, and t stays in [eps, 1]
    noisy, masked, p = mask_tokens(x, 5, 0.2, g)
    t = p[:, 0]
    assert t.min() >= 0.2 and t.max() <= 1.0 and torch.all(p == t[:, None])
    assert (masked.float().mean(1) - t).abs().max() < 0.1
    assert torch.corrcoef(torch.stack([masked.float().mean(1), t]))[0, 1] > 0.95


def test_diffusion_loss_matches_full_forward(tok, text_file, tmp_path):
    model = LLaDAModelLM(model_config(tiny_cfg(tmp_path, text_file), tok)).init_weights(0, std=0.3)
    x = torch.randint(6, len(tok), (4, 32))
    loss, n = diffusion_loss(model, x, tok.mask_token_id, 1e-3, torch.Generator().manual_seed(7))
    # the same draw, scored through model.forward with the full head
    noisy, masked, p = mask_tokens(x, tok.mask_token_id, 1e-3, torch.Generator().manual_seed(7))
    logits = model(noisy).logits[:, :, : len(tok)]
    ce = F.cross_entropy(logits[masked], x[masked], reduction="none") / p[masked]
    assert n == int(masked.sum()) > 0
    torch.testing.assert_close(loss, ce.sum() / x.numel())


def test_text_split_holds_out_the_tail(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("".join(f"line {i}\n" for i in range(1000)))
    train_docs, held = text_files_split([f])
    tr, he = train_docs[str(f)], held[str(f)]
    assert tr + he == f.read_text() and tr.endswith("\n")
    assert 0.04 < len(he) / len(tr + he) < 0.06
    assert set(HELDOUT_BOOKS) == {"Deuteronomy", "Ecclesiastes", "Micah", "Mark", "James"}


def heldout_loss(model, tok, text_file, seed=0):
    """Diffusion loss on fixed training windows with a fixed masking draw (lower is better)."""
    train_docs, _ = text_files_split([text_file])
    stream = encode_docs(tok, train_docs)
    g = torch.Generator().manual_seed(seed)
    x = sample_batch(stream, 32, 32, g)
    with torch.no_grad():
        return diffusion_loss(model, x, tok.mask_token_id, 1e-3, g)[0].item()


def test_short_training_run_lowers_loss_and_saves_loadable_checkpoint(text_file, tmp_path):
    cfg = tiny_cfg(tmp_path / "model", text_file)
    info = train(cfg, command="test")
    loaded = load_model(tmp_path / "model", device="cpu", dtype="float32")
    tok = loaded.tokenizer
    assert loaded.mask_id == tok.mask_token_id and loaded.eos_id == tok.eos_token_id
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model_type"] == "llada" and config["vocab_size"] == len(tok)
    assert config["embedding_size"] % 128 == 0 and config["embedding_size"] >= len(tok)
    fresh = LLaDAModelLM(loaded.model.config).init_weights(cfg.seed)
    before, after = heldout_loss(fresh, tok, text_file), heldout_loss(loaded.model, tok, text_file)
    assert after < 0.8 * before, (before, after)
    assert info["steps"] == 20 and len(info["evals"]) == 2  # step 10 and the final one
    assert "demo_defaults" in json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert "## Training" in (tmp_path / "model" / "README.md").read_text()


def test_the_causal_twin_trains_on_next_tokens_with_the_given_tokenizer(text_file, tmp_path):
    train(tiny_cfg(tmp_path / "diffusion", text_file, steps=2))
    cfg = tiny_cfg(tmp_path / "twin", text_file, causal=True, tokenizer=str(tmp_path / "diffusion"))
    info = train(cfg, command="test")
    twin = load_model(tmp_path / "twin", device="cpu", dtype="float32")
    assert twin.model.config.causal and info["eval_metric"] == "next-token accuracy"
    assert (tmp_path / "twin" / "tokenizer.json").read_text() == (tmp_path / "diffusion" / "tokenizer.json").read_text()
    x = encode_docs(twin.tokenizer, {"t": make_text(40, seed=5)})[: 4 * 32].view(4, 32)
    fresh = LLaDAModelLM(twin.model.config).init_weights(cfg.seed)
    before, after = next_token_loss(fresh, x).item(), next_token_loss(twin.model, x).item()
    assert after < 0.7 * before, (before, after)
    with pytest.raises(ValueError, match="no next token to score"):
        next_token_loss(twin.model, x[:, :1])
    # batches cut to a random length never leave the twin a single token (that loss was NaN)
    short = train(tiny_cfg(tmp_path / "short", text_file, causal=True, steps=30, random_length_prob=1.0, seq_len=2,
                           tokenizer=str(tmp_path / "diffusion")))
    assert short["steps"] == 30 and all(math.isfinite(e["acc"]) for e in short["evals"])
    assert next_token_loss(twin.model, x).item() == pytest.approx(  # the loss is the exact next-token NLL
        -F.log_softmax(twin.model(x).logits[:, :-1, : len(twin.tokenizer)].float(), -1)
        .gather(-1, x[:, 1:, None]).mean().item(), rel=1e-4)
    # its card: exact perplexity, and the diffusion model's bound on the same windows beside it
    res = evaluate_dir(tmp_path / "twin", text_files=[text_file], windows=4, draws=1, threads=1,
                       compare=tmp_path / "diffusion")
    assert 0 <= res["next_token_accuracy"] <= 1 and res["ppl"] == pytest.approx(math.exp(res["nll"]))
    assert math.isfinite(res["compare"]["elbo_ppl"]) and "one token per step" in res["sample_settings"]
    card = (tmp_path / "twin" / "README.md").read_text()
    assert card.startswith("# llada-kjv-ar: the autoregressive twin") and "perplexity (exact" in card
    assert f"{res['compare']['elbo_ppl']:.1f}" in card and "next-token accuracy; exact NLL per token during training" in card
    with pytest.raises(SystemExit, match="diffusion model"):
        evaluate_dir(tmp_path / "twin", text_files=[text_file], windows=2, draws=1, threads=1, write=False,
                     compare=tmp_path / "twin")


def test_a_fine_tune_starts_from_its_init_and_recites_in_reading_order(text_file, tmp_path, monkeypatch):
    import llada_demo.corpus as corpus

    train(tiny_cfg(tmp_path / "base", text_file, steps=2))
    fake = {("Psalms", 23, v): f"Verse {v}." for v in range(1, 4)}
    monkeypatch.setattr(corpus, "bible_verses", lambda: fake)  # no Bible needed for the mechanics
    (tmp_path / "passages.json").write_text(json.dumps({"passages": ["Psalms 23:1-3"], "examples": ["Verse 1."]}))
    base = load_model(tmp_path / "base", device="cpu", dtype="float32")
    pools = recitation_rows(base.tokenizer, ["Psalms 23:1-3"], 32)
    (running, run_spans), (pairs, pair_spans), tok = pools["running"], pools["pairs"], base.tokenizer
    assert run_spans.tolist() == [[0, 32]] and tok.decode(pairs[0][: pair_spans[0, 0]]) == "<|startoftext|>Verse 1.\n"
    assert pair_spans[:, 1].tolist() == [32, 32]  # B and the padding after it
    anywhere = recitation_rows(tok, ["Psalms 23:1-3"], 32, pair_masking="anywhere")["pairs"]
    assert torch.equal(anywhere[0], pairs) and anywhere[1].tolist() == [[0, 32], [0, 32]]
    both = recitation_rows(tok, ["Psalms 23:1-3"], 32, pair_masking="both")["pairs"]  # each pair once each way
    assert torch.equal(both[0], torch.cat([pairs, pairs])) and both[1].tolist() == pair_spans.tolist() + [[0, 32]] * 2
    each = recitation_rows(tok, ["Psalms 23:1-3"], 32, pair_masking="each-way")["pairs"]  # B only, then A only
    assert torch.equal(each[0], torch.cat([pairs, pairs])) and each[1][:2].tolist() == pair_spans.tolist()
    (a_start, a_end), = each[1][2:3].tolist()
    assert tok.decode(pairs[0][a_start:a_end]) == "Verse 1." and tok.decode(pairs[0][a_end]) == "\n"  # A, exactly
    with pytest.raises(SystemExit, match="choose response, anywhere, both, each-way"):
        recitation_rows(tok, ["Psalms 23:1-3"], 32, pair_masking="left")
    assert len(running) == 1 and len(pairs) == 2 and "instructions" not in pools  # one passage, two pairs
    n_pair = int((pairs[0] != tok.eos_token_id).sum()) + 1  # a pair row's tokens with its first <|endoftext|>
    short = recitation_rows(tok, ["Psalms 23:1-3"], n_pair)["running"][0]  # a row holds 2 verses: runs of them
    assert [tok.decode(r, skip_special_tokens=True) for r in short] == ["Verse 1.\nVerse 2.", "Verse 3."]
    with pytest.raises(SystemExit, match="give a longer --recite-len"):
        recitation_rows(tok, ["Psalms 23:1-3"], 3)
    assert tok.decode(pairs[0]).startswith("<|startoftext|>Verse 1.\nVerse 2.<|endoftext|>")
    assert tok.decode(running[0]).count("Verse") == 3 and pairs[0][-1] == tok.eos_token_id
    asked, asked_spans = recitation_rows(tok, ["Psalms 23:1-3"], 48, instructed=["Psalms 23:1-3"])["instructions"]
    assert tok.decode(asked[1][asked_spans[1, 0]:], skip_special_tokens=True) == "Verse 1."  # the answer is masked
    assert [tok.decode(row, skip_special_tokens=True) for row in asked[:2]] == [
        "The verse after: Verse 1.\nVerse 2.", "The verse before: Verse 2.\nVerse 1."]  # both ways, 2 pairs
    assert len(asked) == 4
    with pytest.raises(SystemExit, match="not in the list: John 1:1"):
        recitation_rows(tok, ["Psalms 23:1-3"], 48, instructed=["John 1:1"])
    # steps=0: the fine-tune's starting point is the init checkpoint itself
    cfg = tiny_cfg(tmp_path / "recite", text_file, init=str(tmp_path / "base"), recite=str(tmp_path / "passages.json"),
                   steps=0, d_model=64)  # shape options give way to the init's
    info = train(cfg)
    tuned = load_model(tmp_path / "recite", device="cpu", dtype="float32")
    assert tuned.model.config == base.model.config and "Fine-tuned: started from" in info["data"]
    assert all(torch.equal(a, b) for a, b in zip(tuned.model.state_dict().values(), base.model.state_dict().values()))
    generation = json.loads((tmp_path / "recite" / "generation_config.json").read_text())
    assert generation["demo_examples"] == ["Verse 1."]  # the page offers them with this model
    assert generation["recite_canvas"] == cfg.seq_len  # the reversal experiment's canvas for it
    from llada_demo.card import write_model_card

    (tmp_path / "recite" / "reversal.json").write_text(json.dumps({"recite": dict(
        kind="diffusion", pairs=2, forward=0.5, backward=1.0, first_step_confidence=0.9, backward_how="infills")}))
    write_model_card(tmp_path / "recite")
    card = (tmp_path / "recite" / "README.md").read_text()
    assert card.startswith("# recite: the bundled diffusion model, fine-tuned to recite famous passages")
    assert "## The reversal experiment" in card and "| recite | diffusion | 2 | 50% | 100% | - | 0.90 | - |" in card
    assert generation["demo_defaults"]["decoding"] == "threshold" and generation["demo_defaults"]["temperature"] == 0
    # the twin's fine-tune stays autoregressive without being told (--causal follows the init)
    train(tiny_cfg(tmp_path / "twin", text_file, steps=1, causal=True, tokenizer=str(tmp_path / "base")))
    info = train(tiny_cfg(tmp_path / "twin-recite", text_file, init=str(tmp_path / "twin"),
                          recite=str(tmp_path / "passages.json"), recite_len=40, steps=1))
    assert load_model(tmp_path / "twin-recite", device="cpu").model.config.causal
    assert info["eval_metric"] == "next-token accuracy" and info["recite"] == str(tmp_path / "passages.json")
    assert "mask" not in info["data"]  # its loss scores every next token
    gen = torch.Generator().manual_seed(0)
    pools = recitation_rows(tok, ["Psalms 23:1-3"], 40, instructed=["Psalms 23:1-3"])
    (recited, spans), (general, general_spans) = recitation_batch(torch.arange(500) % 50, pools, cfg, gen)
    assert recited.shape == (4, 40) and general.shape == (4, 32) and general_spans.tolist() == [[0, 32]] * 4
    assert all(int(row[0]) == tok.bos_token_id for row in recited)
    loss, n_masked = diffusion_loss(base.model, recited, tok.mask_token_id, t=torch.ones(4), span=spans)
    assert n_masked == sum(e - s for s, e in spans.tolist())  # at t = 1 exactly the answers are masked
    each = recitation_rows(tok, ["Psalms 23:1-3"], 40, pair_masking="each-way")["pairs"]
    noisy_a = diffusion_loss(base.model, each[0][2:], tok.mask_token_id, t=torch.ones(2), span=each[1][2:])[1]
    assert noisy_a == sum(e - s for s, e in each[1][2:].tolist()) > 0  # only A's tokens, all of them
    (both, both_spans), = recitation_batch(torch.arange(500) % 50, recitation_rows(tok, ["Psalms 23:1-3"], 32), cfg, gen)
    assert both.shape == (8, 32) and both_spans[4:].tolist() == [[0, 32]] * 4  # one length: one batch, as before
    only, = recitation_batch(torch.arange(500) % 50, pools, replace(cfg, recite_share=1.0), gen)  # no general rows
    assert only[0].shape == (8, 40) and all(int(row[0]) == tok.bos_token_id for row in only[0])


def test_resume_continues_bit_for_bit(text_file, tmp_path):
    straight = tiny_cfg(tmp_path / "a", text_file, steps=12, eval_every=4)
    train(straight)
    first = tiny_cfg(tmp_path / "b", text_file, steps=12, eval_every=4, stop_after=6)
    train(first)
    state = torch.load(tmp_path / "b" / "training_state.pt", weights_only=False)
    assert state["step"] == 6
    train(TrainConfig(out=str(tmp_path / "b"), resume=True, threads=1, final_eval=False))
    a = torch.load(tmp_path / "a" / "training_state.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "training_state.pt", weights_only=False)
    assert a["step"] == b["step"] == 12
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    # and a different seed gives a different model, so the comparison above can fail
    other = tiny_cfg(tmp_path / "c", text_file, steps=12, eval_every=4, seed=4)
    train(other)
    c = torch.load(tmp_path / "c" / "training_state.pt", weights_only=False)
    assert not all(torch.equal(t, c["model"][k]) for k, t in a["model"].items())


def test_evaluate_writes_metrics_and_model_card(text_file, tmp_path):
    train(tiny_cfg(tmp_path / "m", text_file, steps=10))
    res = evaluate_dir(tmp_path / "m", text_files=[text_file], windows=8, draws=2, threads=1)
    assert set(res["masked_accuracy"]) == {"0.15", "0.5", "0.9"}
    assert all(0.0 <= a <= 1.0 for a in res["masked_accuracy"].values())
    assert math.isfinite(res["elbo_ppl"]) and res["elbo_ppl"] > 1
    assert len(res["samples"]) == 5 and 0 < res["distinct3"] <= 1
    card = (tmp_path / "m" / "README.md").read_text()
    assert "ELBO perplexity" in card and res["samples"][0].strip().splitlines()[0] in card


def test_distinct_n():
    assert distinct_n([[1, 2, 3, 4]], 3) == (1.0, 1.0)
    pooled, per = distinct_n([[1, 2, 3, 1, 2, 3], [1, 2, 3]], 3)
    assert per == pytest.approx((3 / 4 + 1) / 2) and pooled == pytest.approx(3 / 5)


def test_commands_name_paths_inside_the_repository_from_its_root():
    from llada_demo.train import REPOSITORY, repository_relative

    assert repository_relative(str(REPOSITORY / "assets" / "llada-kjv")) == "assets/llada-kjv"
    assert repository_relative(f"--out={REPOSITORY}/assets/x") == "--out=assets/x"
    assert repository_relative("/tmp/elsewhere") == "/tmp/elsewhere" and repository_relative("1e-3") == "1e-3"
    card = (REPOSITORY / "assets" / "llada-kjv" / "README.md").read_text()
    assert str(REPOSITORY) not in card and "/work/" not in card  # the bundled model's card, too


def test_the_reversal_experiment_runs_on_tiny_checkpoints(text_file, tmp_path, capsys):
    from llada_demo import reversal

    train(tiny_cfg(tmp_path / "diffusion", text_file, steps=2, seq_len=64))  # room for a pair of verses
    train(tiny_cfg(tmp_path / "twin", text_file, steps=2, seq_len=64, causal=True,
                   tokenizer=str(tmp_path / "diffusion")))
    fake = {("Psalms", 23, v): line for v, line in enumerate(make_text(4, seed=7).splitlines(), start=1)}
    pairs = reversal.verse_pairs(["Psalms 23:1-4"], fake)
    assert pairs == [(fake["Psalms", 23, v], fake["Psalms", 23, v + 1]) for v in (1, 2, 3)]
    passages = tmp_path / "passages.json"
    fake |= {("Psalms", 24, v): line for v, line in enumerate(make_text(2, seed=8).splitlines(), start=1)}
    passages.write_text(json.dumps({"passages": ["Psalms 23:1-4", "Psalms 24:1-2"], "instructions": ["Psalms 24:1-2"]}))
    import llada_demo.corpus as corpus

    original = corpus.bible_verses
    corpus.bible_verses = lambda: fake
    try:
        reversal.main([str(tmp_path / "diffusion"), str(tmp_path / "twin"), "--passages", str(passages),
                       "--threads", "1", "--json", str(tmp_path / "r.json")])
        results = json.loads((tmp_path / "r.json").read_text())
        out = capsys.readouterr().out
        # --merge: the twin's rows replaced (the same here: it is deterministic), the diffusion model's kept
        reversal.main([str(tmp_path / "twin"), "--passages", str(passages), "--threads", "1",
                       "--json", str(tmp_path / "r.json"), "--merge"])
        assert json.loads((tmp_path / "r.json").read_text()) == results
        assert capsys.readouterr().out.count("| diffusion |") == 1  # the table printed is the file's, both rows
    finally:
        corpus.bible_verses = original
    d, ar = results[str(tmp_path / "diffusion")], results[str(tmp_path / "twin")]
    assert (d["kind"], ar["kind"], d["pairs"], ar["pairs"]) == ("diffusion", "autoregressive", 4, 4)
    assert all(0 <= r[k] <= 1 for r in (d, ar) for k in ("forward", "rank_backward", "instruction_forward",
                                                          "instruction_backward"))
    assert 0 <= d["backward"] <= 1 and ar["backward"] is None  # (the twin cannot fill)
    assert d["rank_candidates"] == ar["rank_candidates"] == 6
    assert d["instruction_pairs"] == ar["instruction_pairs"] == 3  # the passage not trained as instructions
    assert 0 < d["first_step_confidence"] <= 1 and ar["first_step_confidence"] is None
    assert "| - (cannot: writes left to right) |" in out and "(3 pairs)" in out and "of 6 (exact likelihood)" in out
    # --samples 0: the diffusion model's writing only (its ranking is the slow part); the twin still ranks
    quick = {m: reversal.evaluate(load_model(m, device="cpu"), pairs, samples=0)
             for m in (tmp_path / "diffusion", tmp_path / "twin")}
    assert "rank_backward" not in quick[tmp_path / "diffusion"] and "rank_backward" in quick[tmp_path / "twin"]
    assert set(quick[tmp_path / "diffusion"]) == {"forward", "backward", "first_step_confidence", "backward_how",
                                                  "kind", "pairs"}
    assert "| - |" in reversal.table(quick)
    # --canvas: a diffusion model writes and fills on a canvas that long (at most its context, 64 here)
    tiny = load_model(tmp_path / "diffusion", device="cpu")
    ia, nl, ib = reversal.pair_ids(tiny.tokenizer, *pairs[0])
    assert len(reversal.fill_canvas(tiny, ia, nl, ib, canvas=48)) == max(48, 1 + len(ia) + len(nl) + len(ib))
    assert len(reversal.fill_canvas(tiny, ia, nl, ib)) == max(64, 1 + len(ia) + len(nl) + len(ib))
    assert reversal.writing_settings(tiny, 10, 5, canvas=48).gen_length == 38
    # a recitation fine-tune names the rows it learnt its verses in: that is its canvas unless told
    config = tmp_path / "diffusion" / "generation_config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"recite_canvas": 40}))
    assert reversal.canvas_length(tiny) == 40 and reversal.canvas_length(tiny, canvas=48) == 48


def test_keep_best_keeps_the_evaluation_with_the_lowest_held_out_loss(tmp_path):
    # a text that invites overfitting: three lines repeated, then (held out, its last 5%) other lines; the
    # twin learns the words, then the three lines by heart, and its held-out loss rises again
    from llada_demo.corpus import heldout_windows, load_corpus
    from llada_demo.evaluate import exact_nll

    held = make_text(40, seed=12)
    text = make_text(3, seed=11) * (len(held) * 19 // len(make_text(3, seed=11)) + 1) + held
    path = tmp_path / "repeated.txt"
    path.write_text(text, encoding="utf-8")
    cfg = tiny_cfg(tmp_path / "twin", path, causal=True, steps=200, lr=2e-2, eval_every=10, keep_best=True)
    info = train(cfg, command="test")
    losses = [e["loss"] for e in info["evals"]]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert 0 < best < len(losses) - 3 and losses[-1] > losses[best] + 0.1, losses  # it did overfit
    assert info["kept"]["step"] == info["evals"][best]["step"] and info["steps"] == 200
    twin = load_model(tmp_path / "twin", device="cpu", dtype="float32")  # the weights on disk are the best's
    train_docs, held_docs = load_corpus([str(path)])
    windows = heldout_windows(encode_docs(twin.tokenizer, held_docs), cfg.seq_len, cfg.eval_windows)
    assert exact_nll(twin.model, windows) == pytest.approx(info["kept"]["loss"], abs=1e-3)
    assert f"these weights are step {info['kept']['step']}'s" in (tmp_path / "twin" / "README.md").read_text()
    # --patience: stops that many evaluations after the lowest
    stopped = train(replace(cfg, out=str(tmp_path / "patient"), patience=2))
    assert stopped["steps"] == stopped["kept"]["step"] + 20 < 200
    # the learning curve the Likelihood tab draws: every evaluation's loss by epochs, the kept one's marked
    curve = learning_curve(tmp_path / "twin")
    assert curve["kind"] == "autoregressive" and [p["loss"] for p in curve["points"]] == losses
    assert curve["kept_epochs"] == info["kept"]["epochs"] and curve["final"] is None  # (no final evaluation)
    assert curve["points"][-1]["epochs"] == pytest.approx(info["epochs"], abs=0.01)


def test_at_their_best_says_which_wins_by_the_numbers():
    def curve(ppl, epochs, accs=(0.3, 0.4)):
        points = [dict(epochs=epochs * (i + 1) / len(accs), acc=a, loss=None) for i, a in enumerate(accs)]
        return dict(points=points, final=dict(epochs=epochs, ppl=ppl, loss=math.log(ppl), how="-"))

    diffusion = curve(42.5, 28.2)
    assert at_their_best(diffusion, curve(27.0, 9.5)).startswith(
        "Each at its best, the twin wins: its held-out perplexity is 27.0 (exact) after 9.5 epochs, against the "
        "diffusion model's ceiling of 42.5 after 28.2 epochs")
    assert at_their_best(diffusion, curve(50.0, 9.5)).startswith(
        "Each at its best, the diffusion model wins: even its ceiling, 42.5 after 28.2 epochs, is below the twin's "
        "exact 50.0 after 9.5.")
    told = at_their_best(diffusion, curve(27.0, 9.5), longer=curve(85.5, 28.2))
    assert "the twin's perplexity rose to 85.5, above the diffusion model's ceiling." in told
    assert "held-out accuracy rose to the end (0.300 after 14.1 epochs, 0.400 after 28.2)" in told
    peaked = at_their_best(curve(42.5, 28.2, accs=(0.3, 0.5, 0.4)), curve(27.0, 9.5), longer=curve(40.0, 28.2))
    assert "still below the diffusion model's ceiling." in peaked and "rose to the end" not in peaked
    assert at_their_best(dict(diffusion, final=None), curve(27.0, 9.5)) == ""  # no final evaluation: nothing said
    # the diffusion recipe run again with its bound logged: where its loss went, by the numbers
    def logged(*losses):
        return dict(points=[dict(epochs=7.0 * (i + 1), acc=0.4, loss=x) for i, x in enumerate(losses)], final=None)
    assert at_their_best(diffusion, curve(27.0, 9.5), rerun=logged(4.5, 4.0, 3.8, 3.7)).endswith(
        " Its recipe run again with the bound logged: 4.50 nats after 7.0 epochs, falling to the end (3.70 after "
        "28.0).")
    assert at_their_best(diffusion, curve(27.0, 9.5), rerun=logged(4.5, 3.6, 3.8, 3.9)).endswith(
        "lowest at 3.60 after 14.0, 3.90 at the end (28.0 epochs).")
    assert "run again" not in at_their_best(diffusion, curve(27.0, 9.5), rerun=logged(4.5))  # one point: no trend


@pytest.mark.skipif(shutil.which("bible") is None and not os.environ.get("CI"), reason="Debian's bible-kjv is absent")
def test_ranking_picks_the_verse_before_with_either_kind_of_model():
    # the bundled recitation twin knows Psalm 23 by heart: of its six verses, it picks the one before B by
    # its exact likelihood of the pair. The diffusion model ranks by its bound on the same text: loose and
    # noisy, it finds A less often, and still far more often than the one time in six of chance
    from llada_demo import reversal

    pairs = reversal.verse_pairs(["Psalms 23:1-6"])
    candidates = reversal.candidates_of(pairs)
    assert len(candidates) == 6
    twin = load_model(ASSETS / "llada-recite-ar", device="cpu", dtype="float32")
    assert [candidates[reversal.rank(twin, b, candidates)] for _, b in pairs] == [a for a, _ in pairs]
    assert reversal.ranking_scores(twin, pairs[:2]) == dict(rank_backward=1.0, rank_candidates=3,
                                                             rank_how="exact likelihood")
    tok, (a, b) = twin.tokenizer, pairs[0]  # the twin's score is its exact log-likelihood of the text
    ids = reversal.pair_ids(tok, a, b)
    text = [tok.bos_token_id, *ids[0], *ids[1], *ids[2], twin.eos_id]
    logits = twin.model(torch.tensor([text[:-1]])).logits[0, :, : len(tok)].float()
    exact = F.log_softmax(logits, -1).gather(-1, torch.tensor(text[1:])[:, None]).sum().item()
    ranked = reversal.rank_text(twin, *ids)  # what rank() scores: A newline B <|endoftext|>
    assert ranked == text[1:]
    assert log_likelihoods(twin, [tok.bos_token_id], [ranked])[0] == pytest.approx(exact, rel=1e-4)
    # the diffusion model's bound on the same text: it knows each verse from the same verse with its words
    # in reverse order
    diffusion = load_model(ASSETS / "llada-recite", device="cpu", dtype="float32")
    for a, b in pairs:
        assert reversal.rank(diffusion, b, [" ".join(a.split()[::-1]), a], samples=8) == 1, a
    scores = reversal.ranking_scores(diffusion, pairs[:2], samples=8)
    assert scores["rank_candidates"] == 3 and scores["rank_how"] == "likelihood bound, 8 draws"
    assert log_likelihoods(diffusion, [tok.bos_token_id], [ranked], mc_samples=8)[0] == pytest.approx(
        log_likelihood(diffusion, [tok.bos_token_id], text[1:], mc_samples=8, batch_size=8, seed=0)[0])
