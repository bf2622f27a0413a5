"""HF transformers on the CPU, on exactly the work `mixtune bench generate --device cpu` times.

The CPU counterpart of `../shared/bench/hf_same_work.py` (which needs CUDA): random weights
with the Flan-T5 small/base shapes, a random 200-token prompt (last token </s>), exactly 64
greedy new tokens, median of --runs after a warm-up, PyTorch eager in fp32 on all cores
(or --threads). It prints the same JSON object, so `mixtune bench generate --device cpu
--reference hf_cpu.json` puts both side by side; run both on the same machine, one after
the other, with nothing else running.

Usage: python3 scripts/bench/hf_same_work_cpu.py [--shapes small,base] [--batch 1,8]
           [--runs 3] [--threads N] > hf_cpu.json
A benchmark helper only: Mixtune itself runs no Python.
"""
import argparse, json, os, platform, sys, time

import torch
from transformers import T5Config, T5ForConditionalGeneration

SHAPES = {
    "small": dict(d_model=512, d_ff=1024, d_kv=64, num_heads=6, num_layers=8, num_decoder_layers=8),
    "base": dict(d_model=768, d_ff=2048, d_kv=64, num_heads=12, num_layers=12, num_decoder_layers=12),
}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="small,base")
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--source-len", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = {"device": f"cpu: {cpu_name()} ({args.threads} threads)", "torch": torch.__version__,
           "results": []}
    g = torch.Generator().manual_seed(0)
    for shape in args.shapes.split(","):
        cfg = T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                       decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **SHAPES[shape])
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(cfg).eval()
        for batch in [int(b) for b in args.batch.split(",")]:
            ids = torch.randint(3, 32000, (batch, args.source_len), generator=g)
            ids[:, -1] = 1
            am = torch.ones_like(ids)

            def run():
                with torch.no_grad():
                    model.generate(input_ids=ids, attention_mask=am, max_new_tokens=args.new_tokens,
                                   min_new_tokens=args.new_tokens, do_sample=False, num_beams=1)

            run()
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                run()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            row = {"job": "generate", "shapes": shape, "dtype": "fp32", "batch": batch,
                   "median_ms": times[len(times) // 2], "runs_ms": times}
            out["results"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
