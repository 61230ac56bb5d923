"""Milliseconds per reverse step of generate() and denoise(), and the overhead of streaming frames.

    python bench/bench_sampler.py [--model DIR_OR_HUB_ID] [--lengths 32,64,128] [--repeats 5]

generate() and denoise() run alternately on the same settings, so machine noise hits both alike;
the table gives medians over the repeats. Without --model it uses the bundled model, or, if that is
not there yet, a random model of the same kind (said in the output).
"""

import argparse
import statistics
import sys
import time

import torch

from llada_demo import LLaDAConfig, LLaDAModelLM, ModelLoadError, denoise, generate, load_model


def pick_model(name):
    try:
        loaded = load_model(name, device="cpu")
        return loaded, loaded.name
    except ModelLoadError as e:
        if name is not None:
            raise
        print(f"# {e}\n# using a random model instead", file=sys.stderr)
        cfg = LLaDAConfig(d_model=256, n_layers=6, n_heads=8, n_kv_heads=4, mlp_hidden_size=768, vocab_size=4096,
                          embedding_size=4096, max_sequence_length=1024, weight_tying=True, mask_token_id=4095)
        return LLaDAModelLM(cfg).init_weights(0).eval(), "random d256 L6 (bundled model absent)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--prompt-length", type=int, default=64)
    ap.add_argument("--lengths", default="32,64,128")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, name = pick_model(args.model)
    vocab = (model.model if hasattr(model, "model") else model).config.vocab_size
    prompt = torch.randint(0, min(vocab, 1000), (1, args.prompt_length), generator=torch.Generator().manual_seed(0))
    print(f"model: {name}; prompt {args.prompt_length} tokens; {args.threads} threads; "
          f"median of {args.repeats} alternating runs; steps = answer length, one block")
    print(f"{'answer':>6} {'steps':>5} {'generate ms/step':>17} {'denoise ms/step':>16} {'overhead':>9}")
    for length in map(int, args.lengths.split(",")):
        kwargs = dict(steps=length, gen_length=length, block_length=length, temperature=0.0)
        generate(model, prompt, **kwargs)  # warm-up
        g_times, d_times = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            generate(model, prompt, **kwargs)
            g_times.append((time.perf_counter() - t) / length)
            t = time.perf_counter()
            for _frame in denoise(model, prompt, **kwargs):
                pass
            d_times.append((time.perf_counter() - t) / length)
        g, d = statistics.median(g_times) * 1e3, statistics.median(d_times) * 1e3
        print(f"{length:>6} {length:>5} {g:>17.2f} {d:>16.2f} {100 * (d / g - 1):>8.1f}%")


if __name__ == "__main__":
    main()
