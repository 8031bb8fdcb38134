"""Under load: how fast answers stay when other work shares the cores.

1. Threads: the embedded model's time to first token and decode speed with 0, 1 and 2 cores kept busy
   by another program (a busy loop at normal priority; and one at idle priority, which is what rag's
   own background work runs at), for fixed thread settings (decode / prompt) and for rag's policy (prompt
   on every core, decode on the cores nobody else uses: rag/load.py). A fresh process per run.
2. Answers: one person's question through `bot.stream` on the default corpus, quiet, then while
   (a) a second person asks at the same moment, (b) an ingest runs (rag's niced background worker,
   and the same at normal priority for comparison), (c) three sessions ask at once through the UI.
   Ratios against the quiet runs of the same run.

Run as part of `python -m bench` (section "load"); `python -m bench.load CHILD DECODE PROMPT` is one
run of part 1.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from .queries import QUESTIONS, TYPICAL

ROOT = Path(__file__).resolve().parent.parent
BUSY_LOOP = [sys.executable, "-c", "while True: pass"]
GEN_TOKENS = 48
# (label, decode threads, prompt threads); 0 decode threads = rag's policy
SETTINGS = (("2 / 2 (earlier default)", 2, 2), ("1 / 1", 1, 1), ("1 / 2", 1, 2), ("rag's policy: adaptive / 2", 0, 2))
# (label, busy loops, their priority)
LOADS = (("quiet", 0, "normal"), ("1 core busy", 1, "normal"), ("2 cores busy", 2, "normal"), ("1 core busy at idle priority", 1, "idle"))


def _child(decode: int, prompt: int) -> dict:
    """One fresh model: a ~300-token prompt, GEN_TOKENS streamed tokens, as rag's LLM class runs them."""
    from rag.config import Settings
    from rag.llms.llamacpp import LlamaCppLLM
    from rag.models import DEFAULT, PACKAGED, assemble

    settings = Settings()
    llm = LlamaCppLLM(assemble(PACKAGED[DEFAULT], settings.model_dir), 2048, prompt, decode_threads=decode)
    text = sorted(p for p in settings.corpus.iterdir() if p.suffix == ".txt")[0].read_text(encoding="utf-8")
    words = text.split()[:220]
    messages = [{"role": "user", "content": " ".join(words) + "\n\nRésume ce texte en détail."}]
    start = time.perf_counter()
    stamps = [time.perf_counter() for _ in llm.stream(messages, GEN_TOKENS)]
    return {"ttft_seconds": stamps[0] - start,
            "decode_tokens_per_s": (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None,
            "decode_threads_at_end": llm.decode_threads}


class Busy:
    """n busy loops, at normal or idle priority, for the length of a with-block."""

    def __init__(self, n: int, priority: str = "normal") -> None:
        self.n, self.priority = n, priority

    def __enter__(self):
        idle = "from rag.load import yield_cores; yield_cores()\n" if self.priority == "idle" else ""
        self.procs = [subprocess.Popen([sys.executable, "-c", idle + "print('ready', flush=True)\nwhile True: pass"],
                                       cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(self.n)]
        for p in self.procs:  # an idle-priority loop busies a core at normal priority until rag is imported
            p.stdout.readline()
        time.sleep(1.0)  # let rag's core watch see them (two readings)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()
        time.sleep(0.5)


def threads_grid(log, deadline: float, quick: bool) -> dict:
    from . import ORIGINAL_ENV

    env = {k: v for k, v in ORIGINAL_ENV.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "RAG_LLM_DECODE_THREADS")}
    loads = LOADS[:2] if quick else LOADS
    out = {"gen_tokens": GEN_TOKENS, "runs": [], "notes": []}
    for load, n, priority in loads:
        with Busy(n, priority):
            for label, decode, prompt in SETTINGS:
                if time.perf_counter() > deadline:
                    out["notes"].append(f"stopped before {label} / {load} (time budget)")
                    return out
                proc = subprocess.run([sys.executable, "-m", "bench.load", "CHILD", str(decode), str(prompt)],
                                      capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
                if proc.returncode != 0:
                    out["notes"].append(f"{label} / {load}: failed ({proc.stderr.strip()[-300:]})")
                    continue
                run = {"setting": label, "load": load, **json.loads(proc.stdout.strip().splitlines()[-1])}
                out["runs"].append(run)
                log(f"load: {label:28} {load:24} first token {run['ttft_seconds']:.2f} s, "
                    f"decode {run['decode_tokens_per_s'] or 0:.1f} tok/s")
    # two answers at once (two processes, each with rag's policy) against the quiet single answer: what
    # the UI's one-answer-at-a-time limit is weighed against
    both = [subprocess.Popen([sys.executable, "-m", "bench.load", "CHILD", "0", "2"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT) for _ in range(2)]
    out["two_at_once"] = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in both]
    log("load: two answers at once: " + ", ".join(f"first token {r['ttft_seconds']:.2f} s, decode "
                                                     f"{r['decode_tokens_per_s'] or 0:.1f} tok/s" for r in out["two_at_once"]))
    return out


def _ask(bot, question: str) -> dict:
    start = time.perf_counter()
    first, answer = None, None
    for item in bot.stream(question):
        if isinstance(item, str):
            first = first or time.perf_counter()
        else:
            answer = item
    end = time.perf_counter()
    return {"question": question, "ttft_seconds": (first or end) - start, "total_seconds": end - start,
            "abstained": answer.abstained, "decode_threads": getattr(bot.llm, "decode_threads", None)}


def answers(index: Path, workdir: Path, log, deadline: float, quick: bool) -> dict:
    """Part 2. Consecutive questions differ, so each one finds only the system prompt in the KV cache."""
    import rag
    from rag.background import ingest_in_background
    from rag.ingest import ingest

    settings = rag.Settings()
    bot = rag.open(settings.corpus, index)
    bot.llm  # loaded before the clock starts
    qa, qb = TYPICAL[0], TYPICAL[2]
    out: dict = {"notes": []}
    for q in (QUESTIONS[4], qa, qb):  # warm: the system prompt and the questions' sentence vectors cached
        _ask(bot, q)
    out["quiet"] = [_ask(bot, q) for q in (qa, qb)]
    log(f"load: quiet answers {[round(r['total_seconds'], 1) for r in out['quiet']]} s")

    # (a) a second person asks at the same moment (one model: the two answers take turns)
    second: dict = {}
    other = threading.Thread(target=lambda: second.update(_ask(bot, QUESTIONS[7])))
    other.start()
    time.sleep(0.05)
    out["second_person"] = {"first": _ask(bot, qa)}
    other.join()
    out["second_person"]["second"] = second
    log(f"load: with a second person asking: {out['second_person']['first']['total_seconds']:.1f} s")

    # (b) an ingest of the default corpus, again and again until the answer is done: rag's worker at
    # idle priority, then the same ingest at normal priority (a thread of this process, as the page
    # did before)
    for label, priority in (("at idle priority (rag's policy)", "idle"), ("at normal priority", "normal")):
        if time.perf_counter() > deadline:
            out["notes"].append(f"skipped the ingest at {label} (time budget)")
            continue
        stop, started, rounds = threading.Event(), threading.Event(), []

        def reindex():
            n = 0
            while not stop.is_set():
                n += 1
                target = settings.with_(index=str(workdir / f"load-ingest-{priority}-{n}"))
                if priority == "idle":
                    ingest_in_background(target, lambda done, total: started.set())
                else:
                    ingest(target, bot.embedder, lambda done, total: started.set())
                rounds.append(n)
                shutil.rmtree(target.index, ignore_errors=True)

        worker = threading.Thread(target=reindex, daemon=True)
        worker.start()
        started.wait(120)
        time.sleep(0.5)
        runs = [_ask(bot, q) for q in ((qb,) if quick else (qb, qa))]
        stop.set()
        worker.join(300)
        out.setdefault("ingest", {})[label] = {"answers": runs, "ingests_completed": len(rounds)}
        log(f"load: during an ingest, {label}: {[round(r['total_seconds'], 1) for r in runs]} s")

    # (c) three sessions at once through the UI, against one session, on the same served page
    if time.perf_counter() < deadline:
        from .concurrency import run_load, serve

        demo, url = serve(settings.corpus, settings.max_answer_tokens, settings.top_k, index=index)
        try:
            per = 1 if quick else 2
            out["ui"] = {n: _ui_summary(run_load(url, sessions=n, duration=1.0, max_questions=per, seed=n))
                         for n in (1, 3)}
        finally:
            demo.close()
        log(f"load: UI, 1 vs 3 sessions: p95 {out['ui'][1]['latency_p95']} vs {out['ui'][3]['latency_p95']} s")
    else:
        out["notes"].append("skipped the UI sessions (time budget)")
    return out


def _ui_summary(report: dict) -> dict:
    return {"completed": report["completed"], "failures": report["failures"],
            "latency_p50": report["latency_s"]["p50"], "latency_p95": report["latency_s"]["p95"],
            "first_words_p50": report["first_token_s"]["p50"], "first_words_p95": report["first_token_s"]["p95"],
            "answers_per_min": report["throughput_per_min"]}


def run(index: Path, workdir: Path, quick: bool, log, deadline: float) -> dict:
    out = {"threads": threads_grid(log, deadline - (150 if quick else 300), quick)}
    out["answers"] = answers(index, workdir, log, deadline, quick)
    out["summary"] = summarise(out)
    return out


def summarise(out: dict) -> dict:
    """The issue's figures: ratios in this one run."""
    runs = {(r["setting"], r["load"]): r for r in out["threads"]["runs"]}
    policy, old, single = SETTINGS[3][0], SETTINGS[0][0], SETTINGS[1][0]

    def get(setting, load, key):
        r = runs.get((setting, load))
        return r and r[key]

    s: dict = {}
    quiet_single = get(single, "quiet", "decode_tokens_per_s")
    for load in ("1 core busy", "1 core busy at idle priority"):
        decode, ttft = get(policy, load, "decode_tokens_per_s"), get(policy, load, "ttft_seconds")
        quiet_ttft = get(policy, "quiet", "ttft_seconds")
        if decode and quiet_single:
            s[f"decode vs quiet single thread, {load}"] = decode / quiet_single
        if ttft and quiet_ttft:
            s[f"first token vs quiet, {load}"] = ttft / quiet_ttft
    for key in ("decode_tokens_per_s", "ttft_seconds"):
        a, b = get(policy, "quiet", key), get(old, "quiet", key)
        if a and b:
            s[f"quiet {key} vs 2 / 2"] = a / b
    ans = out["answers"]
    quiet = statistics.median(r["total_seconds"] for r in ans.get("quiet", [])) if ans.get("quiet") else None
    for label, part in (ans.get("ingest") or {}).items():
        if quiet:
            s[f"answer total during an ingest, {label}, vs quiet"] = \
                statistics.median(r["total_seconds"] for r in part["answers"]) / quiet
    if quiet and ans.get("second_person"):
        s["answer total with a second person asking, vs quiet"] = ans["second_person"]["first"]["total_seconds"] / quiet
    return s


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "CHILD":
        print(json.dumps(_child(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        sys.exit("usage: python -m bench.load CHILD DECODE_THREADS PROMPT_THREADS (used by python -m bench)")
