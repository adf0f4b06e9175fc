"""Prompt and verification lab for generative answers (issue 19). What a small model writes is expensive (10-40 s
an answer on 2 shared cores); what qa makes of it is cheap. So:

  collect  asks the model once per (prompt variant, question) and appends its raw reply, token counts and seconds
           to a JSONL cache;
  replay   turns every cached reply into the final Answer with the current qa.generate / qa.verify code and
           scores it the way `qa eval` does (at the corpus's calibrated threshold), so a change to verification
           is measured in seconds.

  python benchmarks/llm_lab.py collect --set evals/seeds.jsonl --docs ../shared/seeds --every 5 --cache lab.jsonl
  python benchmarks/llm_lab.py replay  --set evals/seeds.jsonl --docs ../shared/seeds --every 5 --cache lab.jsonl

--every K takes every K-th question (all kinds appear); --variant names a prompt in PROMPTS. A development tool:
qa itself never imports it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qa import generate as G
from qa.evaluate import load_questions
from qa.pipeline import answer, build_index, threshold_for
from qa.settings import Settings
from qa.text import contains_answer

# prompt variants by name; cached replies of earlier ones stay in the cache: "base" (the prompt before issue 19,
# main at 28cc140) and "v2" (this prompt over the top 5 passages by rank)
PROMPTS = {"v3": G.build_messages}


def _setup(args):
    settings = Settings(docs=Path(args.docs), llm_threads=1).model_copy(update={"abstain_threshold": float("-inf")})
    index = build_index(Path(args.docs), settings=settings)
    qs = load_questions(Path(args.set))[args.offset :: args.every]
    if args.ids:
        qs = [q for q in qs if q.id in args.ids.split(",")]
    return settings, index, qs


def _extractive(q, index, settings):
    a = answer(q.question, index=index, settings=settings)
    documents = {p.chunk.source: index.document(p.chunk.source) for p in a.passages}
    return a, documents


def collect(args) -> None:
    from llama_cpp import Llama

    from qa.errors import GeneratorError

    settings, index, qs = _setup(args)
    cache = Path(args.cache)
    done = set()
    if cache.exists():
        done = {(r["variant"], r["id"]) for r in map(json.loads, cache.read_text().splitlines())}
    llm = Llama(
        model_path=str(Path(args.model).expanduser()), n_ctx=settings.llm_context, n_threads=args.threads, verbose=False
    )
    build = PROMPTS[args.variant]
    todo = [q for q in qs if (args.variant, q.id) not in done]
    for q in todo:
        a, _ = _extractive(q, index, settings)
        if a.abstained:
            continue
        passages = G.prompt_passages(a.passages, settings.llm, first=[c.chunk_id for c in a.citations])
        messages = build(a.resolved_question, passages, settings.llm)
        t0 = time.perf_counter()
        r = llm.create_chat_completion(messages=messages, max_tokens=settings.llm_max_tokens, temperature=0.0)
        row = {
            "variant": args.variant,
            "id": q.id,
            "raw": r["choices"][0]["message"]["content"] or "",
            "prompt_tokens": r["usage"]["prompt_tokens"],
            "completion_tokens": r["usage"]["completion_tokens"],
            "seconds": round(time.perf_counter() - t0, 2),
        }
        with cache.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(q.id, row["seconds"], row["prompt_tokens"], repr(row["raw"][:120]), flush=True)
    # the optional judge's yes/no on the extractive quotes, where qa would ask it, in a second pass: one prompt
    # of another shape in between would cost the answers their cached prefix (~650 tokens of worked examples)
    judged = set()
    if Path(args.judge_cache).exists():
        judged = {r["id"] for r in map(json.loads, Path(args.judge_cache).read_text().splitlines())}
    replies = {
        r["id"]: r["raw"] for r in map(json.loads, cache.read_text().splitlines()) if r["variant"] == args.variant
    }
    for q in qs if args.with_judge else ():
        a, documents = _extractive(q, index, settings)
        if a.abstained or q.id in judged or q.id not in replies:
            continue
        passages = G.prompt_passages(a.passages, settings.llm, first=[c.chunk_id for c in a.citations])
        try:  # the judge is asked only where qa would show the extractive answer in the model's place
            used = G.verified_answer(a, passages, replies[q.id], documents, "llama:qwen").generator != "extractive"
        except GeneratorError:
            used = False
        if used:
            continue
        t1 = time.perf_counter()
        j = llm.create_chat_completion(messages=G.judge_messages(a), max_tokens=3, temperature=0.0)
        row = {
            "id": q.id,
            "judge": j["choices"][0]["message"]["content"] or "",
            "judge_prompt_tokens": j["usage"]["prompt_tokens"],
            "judge_seconds": round(time.perf_counter() - t1, 2),
        }
        with Path(args.judge_cache).open("a") as f:
            f.write(json.dumps(row) + "\n")
        print("judge", q.id, row["judge"], row["judge_seconds"], flush=True)


def replay(args) -> None:
    from qa.errors import GeneratorError

    settings, index, qs = _setup(args)
    rows = {
        r["id"]: r for r in map(json.loads, Path(args.cache).read_text().splitlines()) if r["variant"] == args.variant
    }
    if Path(args.judge_cache).exists():
        for r in map(json.loads, Path(args.judge_cache).read_text().splitlines()):
            if r["id"] in rows:
                rows[r["id"]]["judge"] = r["judge"]
    threshold = threshold_for(settings.model_copy(update={"abstain_threshold": None}), index)
    print(f"abstention threshold {threshold:.2f} (this corpus's calibrated one, as qa eval uses)")
    records: list[dict] = []
    s = {"ans": 0, "correct": 0, "false_abst": 0, "una": 0, "refused": 0, "ext_correct": 0, "fallback": 0}
    for q in qs:
        a, documents = _extractive(q, index, settings)
        ext_ok = not a.abstained and a.confidence >= threshold and any(contains_answer(a.text, g) for g in q.answers)
        row = rows.get(q.id)
        if a.abstained or row is None:
            final, how = a, "extractive (no model reply)"
        else:
            passages = G.prompt_passages(a.passages, settings.llm, first=[c.chunk_id for c in a.citations])
            try:
                final = G.verified_answer(a, passages, row["raw"], documents, "llama:qwen", agree=not args.no_agree)
                how = final.generator
            except GeneratorError as e:
                final, how = a, f"failed: {e}"
            if args.judge and final.generator == "extractive" and G.judge_verdict(row.get("judge", "")) is False:
                final, how = G.refusal(a, "llama:qwen", row["raw"], "judged"), f"{how}; judge said no"
        abstained = final.abstained or final.confidence < threshold
        records.append(
            {
                "id": q.id,
                "generator": final.generator,
                "abstained": abstained,
                "candidate_answer": final.text,
                "citations": [{"n": c.n, "section": c.section, "quote": c.quote} for c in final.citations],
                "notes": list(final.notes),
            }
        )
        ok = not abstained and any(contains_answer(final.text, g) for g in q.answers)
        if q.answerable:
            s["ans"] += 1
            s["correct"] += ok
            s["ext_correct"] += ext_ok
            s["false_abst"] += abstained
        else:
            s["una"] += 1
            s["refused"] += abstained
        s["fallback"] += final.generator == "extractive" and row is not None
        mark = ("ok " if ok else "BAD") if q.answerable else ("ok " if abstained else "BAD")
        if args.verbose or mark == "BAD":
            print(f"{mark} {q.id} [{q.kind}] {q.question}\n    gold={list(q.answers)} ext_ok={ext_ok} -> {how}")
            print(f"    raw: {row['raw'] if row else None!r}")
            print(f"    shown: {'(abstained) ' if abstained else ''}{final.text[:200]!r}")
            for n in final.notes:
                print(f"    note: {n}")
    print(
        f"answerable {s['ans']}: accuracy {s['correct'] / max(1, s['ans']):.3f} "
        f"(extractive {s['ext_correct'] / max(1, s['ans']):.3f}), "
        f"false abstention {s['false_abst'] / max(1, s['ans']):.3f}; "
        f"unanswerable {s['una']}: refused {s['refused']}; extractive fallbacks {s['fallback']}"
    )
    if args.json:  # the records benchmarks/audit_generated.py reads, in qa eval's --json shape
        Path(args.json).write_text(json.dumps({"records": records}, indent=1, ensure_ascii=False), encoding="utf-8")
    vals = [rows[q.id] for q in qs if q.id in rows and rows[q.id]["prompt_tokens"] is not None]
    if vals:
        print(
            "model: prompt tokens mean {:.0f}, completion tokens mean {:.1f}, seconds mean {:.1f} (n={})".format(
                sum(r["prompt_tokens"] for r in vals) / len(vals),
                sum(r["completion_tokens"] for r in vals) / len(vals),
                sum(r["seconds"] for r in vals) / len(vals),
                len(vals),
            )
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["collect", "replay"])
    p.add_argument("--set", required=True)
    p.add_argument("--docs", required=True)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--ids", default="")
    p.add_argument("--variant", default="v3")
    p.add_argument("--model", default="~/.cache/qa-bench/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    p.add_argument("--cache", required=True)
    p.add_argument("--threads", type=int, default=1, help="collect: llama.cpp threads (1 on a busy machine)")
    p.add_argument("--judge", action="store_true", help="replay with QA_LLM_JUDGE on (the cached yes/no)")
    p.add_argument("--json", help="replay: write the records here (for benchmarks/audit_generated.py)")
    p.add_argument("--no-agree", action="store_true", help="replay without the agreement check")
    p.add_argument("--with-judge", action="store_true", help="collect: also ask the judge of every question")
    p.add_argument("--judge-cache", default="judge.jsonl")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    {"collect": collect, "replay": replay}[args.command](args)


if __name__ == "__main__":
    main()
