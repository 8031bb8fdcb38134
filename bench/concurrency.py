"""A bounded load test of the running chat UI, on this machine only (loopback).

    python -m bench.concurrency --url http://127.0.0.1:7860 --sessions 3 --duration 60
    python -m bench.concurrency --serve --sessions 3 --duration 60 --max-answer-tokens 32 --top-k 2

N concurrent client sessions (one gradio_client.Client each: its own Gradio session, hence its own
conversation state on the server) send questions in a loop through the same events the page uses:
"submit" (shows the question), "answer" (the model's step, one at a time for all sessions), "unlock";
after a few questions a session starts a new conversation ("Nouvelle conversation"), as a person would.
Each session's questions carry a unique tag word; after every answer the conversation the server sent
back must hold exactly that session's questions, in order, each followed by its answer, and no other
session's tag anywhere (chat or sources panel).

It stops by itself: no new question after --duration seconds (or --max-questions per session); the
questions already asked are waited for (at most --answer-timeout seconds each), so none is lost.

Reported: answers/min, p50/p95 latency (click to final answer, queueing included) and time to the first
streamed words, and errors by kind: "busy" (the page's own "server very busy" message) and
"queue_full" (Gradio's queue refusing the event) are load-shedding, counted apart from failures
(an error message in the chat, an exception, a timeout, an answer that never came).

The server decides how long answers are: start it with RAG_MAX_ANSWER_TOKENS=32 RAG_TOP_K=2 to keep a
run cheap, or use --serve, which opens the corpus (index in a temp folder) and serves the UI on a free
loopback port inside this process with --max-answer-tokens / --top-k.
"""
from __future__ import annotations

import argparse
import html
import ipaddress
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from rag.config import apply_environment  # noqa: E402

apply_environment()  # offline hygiene, before any library underneath loads

# French questions about the default corpus (answers are in it)
QUESTIONS = [
    "Qui a fondé la start-up chinoise DeepSeek ?",
    "Combien de puces Nvidia ChatGPT utilise-t-il ?",
    "Qu'est-ce que le projet Stargate ?",
    "Combien Meta prévoit-elle d'investir dans l'IA cette année ?",
    "Quel corps de l'armée américaine a interdit à son personnel d'utiliser DeepSeek ?",
    "À quel animal dans un jeu de quilles le blog compare-t-il DeepSeek ?",
    "Dans quelle ville est basée la start-up DeepSeek ?",
    "Combien a coûté l'entraînement du modèle R1 ?",
]

ANSWER_TIMEOUT = 300.0  # seconds one question may take (queueing included) before it counts as lost
QUESTIONS_PER_CONVERSATION = 3
BUSY_BACKOFF = 3.0  # seconds before asking again after a "busy" refusal
POLL = 0.05

# markers of the page's chat messages (ui/render.py)
_STREAMING = 'class="cursor"'
_WAITING = 'class="status-note"'
_ERROR = 'class="error-note"'
_ABSTAINED = 'class="abstain-note"'
_BUSY_WORDS = ("très occupé",)  # ui.i18n TEXTS["fr"]["too_busy"] (the page is French by default)
_MD_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def check_loopback(url: str) -> str:
    """The URL, normalised with a trailing slash; refuses anything but this machine."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme not in ("http", "https") or not host:
        raise ValueError(f"not an http URL: {url!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the load test only targets this machine (127.0.0.1 / localhost / ::1), not {host!r}")
    return url if url.endswith("/") else url + "/"


def make_tags(n: int, seed: int | None = None) -> list[str]:
    """n distinct tag words: letters only (no digit the answer check could mistake for a figure), none a
    prefix of another (all the same length), unlikely to occur in the corpus or in an answer."""
    rng = random.Random(seed)
    tags: list[str] = []
    while len(tags) < n:
        tag = "zq" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(5))
        if tag not in tags:
            tags.append(tag)
    return tags


def tagged(question: str, tag: str) -> str:
    return f"{question} ({tag})"


def _text(message) -> str:
    """The text of one chat message as the client receives it (Gradio 6: a list of parts)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def plain(shown: str) -> str:
    """A chat message as typed: undo the page's HTML and Markdown escaping (ui.render.escape_md)."""
    return _MD_ESCAPE.sub(r"\1", html.unescape(shown))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Outcome:
    session: int
    question: str
    kind: str  # answered | abstained | busy | queue_full | error | exception | timeout | lost
    started: float  # seconds since the run started
    latency: float | None = None  # click -> final answer
    first_token: float | None = None  # click -> first streamed words
    detail: str = ""


@dataclass
class SessionLog:
    session: int
    tag: str
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # mixing / lost-turn findings
    conversations: int = 0
    longest_conversation: int = 0


class _Session:
    """One simulated person: their own Client (Gradio session), one question at a time."""

    def __init__(self, index: int, url: str, tag: str, others: list[str], questions: list[str], t0: float,
                 deadline: float, max_questions: int, answer_timeout: float, per_conversation: int,
                 top_k: int | None, log: SessionLog, verbose: bool) -> None:
        self.index, self.url, self.tag, self.others = index, url, tag, others
        self.questions, self.t0, self.deadline = questions, t0, deadline
        self.max_questions, self.answer_timeout = max_questions, answer_timeout
        self.per_conversation, self.top_k, self.log, self.verbose = per_conversation, top_k, log, verbose
        self.asked_here: list[str] = []  # the questions of the current conversation that reached the chat
        self.client = None

    def say(self, message: str) -> None:
        if self.verbose:
            print(f"[load {time.monotonic() - self.t0:6.1f}s] session {self.index}: {message}", file=sys.stderr, flush=True)

    def run(self) -> None:
        from gradio_client import Client

        try:
            self.client = Client(self.url, verbose=False, download_files=False, analytics_enabled=False)
        except Exception as exc:  # the page is not there: every session says so
            self.log.outcomes.append(Outcome(self.index, "", "exception", 0.0, detail=f"connect: {type(exc).__name__}: {exc}"))
            return
        if self.top_k is None:
            self.top_k = self._default_top_k()
        n = 0
        rotation = self.index  # sessions start at different questions
        while time.monotonic() < self.deadline and n < self.max_questions:
            if len(self.asked_here) >= self.per_conversation:
                self._new_conversation()
            question = tagged(self.questions[rotation % len(self.questions)], self.tag)
            outcome = self._ask(question)
            self.log.outcomes.append(outcome)
            n += 1
            self.say(f"{outcome.kind} in {outcome.latency or 0:.1f}s: {question[:60]}")
            if outcome.kind in ("busy", "queue_full"):
                time.sleep(BUSY_BACKOFF)  # the same question again (a person would press Enter again)
                continue
            if outcome.kind in ("timeout", "lost", "exception"):
                break  # this session's page is in an unknown state: stop it (counted as a failure)
            rotation += 1
        self.log.conversations += 1 if self.asked_here else 0
        try:
            self.client.close()
        except Exception:
            pass

    def _default_top_k(self) -> int | None:
        """The slider's initial value (the server's top_k), as a page would send it."""
        try:
            info = self.client.view_api(print_info=False, return_format="dict")
            for p in info["named_endpoints"]["/answer"]["parameters"]:
                if p.get("parameter_name") == "k" and p.get("parameter_has_default"):
                    return int(p["parameter_default"])
        except Exception:
            pass
        return None

    def _new_conversation(self) -> None:
        self.client.predict(api_name="/new_conversation")
        self.log.conversations += 1 if self.asked_here else 0
        self.asked_here = []

    def _ask(self, question: str) -> Outcome:
        from gradio_client.exceptions import AppError
        from gradio_client.utils import QueueError

        started = time.monotonic()
        outcome = Outcome(self.index, question, "lost", started - self.t0)
        try:
            shown = self.client.submit(question, api_name="/submit").result(timeout=self.answer_timeout)
            chat = shown[1] if isinstance(shown, (list, tuple)) and len(shown) > 1 else None
            last = _text(chat[-1]) if isinstance(chat, list) and chat else ""
            if _ERROR in last and any(w in last for w in _BUSY_WORDS):
                outcome.kind, outcome.detail = "busy", plain(re.sub(r"<[^>]+>", "", last))[:160]
                outcome.latency = time.monotonic() - started
                self._unlock()
                return outcome
            self.asked_here.append(question)
            args = () if self.top_k is None else (self.top_k,)
            job = self.client.submit(*args, api_name="/answer")
            seen = 0
            while not job.done():
                if time.monotonic() - started > self.answer_timeout:
                    job.cancel()
                    outcome.kind, outcome.detail = "timeout", f"no answer after {self.answer_timeout:.0f}s"
                    return outcome
                outputs = job.outputs()
                if outcome.first_token is None and len(outputs) > seen:
                    if any(_STREAMING in self._last(o) for o in outputs[seen:]):
                        outcome.first_token = time.monotonic() - started
                    seen = len(outputs)
                time.sleep(POLL)
            final = job.result()
            outcome.latency = time.monotonic() - started
            if outcome.first_token is None:
                outcome.first_token = outcome.latency
            self._classify(outcome, final)
            self._unlock()
        except QueueError as exc:
            outcome.kind, outcome.detail = "queue_full", str(exc)[:160]
            outcome.latency = time.monotonic() - started
            if self.asked_here and self.asked_here[-1] == question:
                # accepted by "submit" but the answer step was refused: start afresh, as the page's
                # "Nouvelle conversation" would
                self.asked_here.pop()
                try:
                    self._new_conversation()
                except Exception:
                    pass
        except AppError as exc:
            outcome.kind, outcome.detail = "exception", f"AppError: {exc}"[:200]
        except Exception as exc:  # a broken connection, a cancelled job…
            outcome.kind, outcome.detail = "exception", f"{type(exc).__name__}: {exc}"[:200]
        return outcome

    @staticmethod
    def _last(output) -> str:
        chat = output[0] if isinstance(output, (list, tuple)) and output else None
        return _text(chat[-1]) if isinstance(chat, list) and chat else ""

    def _unlock(self) -> None:
        self.client.predict(api_name="/unlock")

    def _classify(self, outcome: Outcome, final) -> None:
        chat = final[0] if isinstance(final, (list, tuple)) and final else None
        sources = final[1] if isinstance(final, (list, tuple)) and len(final) > 1 else None
        if not isinstance(chat, list) or not chat:
            outcome.kind, outcome.detail = "lost", "the answer step returned no conversation"
            return
        last = _text(chat[-1])
        if chat[-1].get("role") != "assistant":
            outcome.kind, outcome.detail = "lost", "the conversation does not end with an answer"
        elif _ERROR in last:
            outcome.kind, outcome.detail = "error", plain(re.sub(r"<[^>]+>", "", last))[:200]
        elif _STREAMING in last or _WAITING in last:
            outcome.kind, outcome.detail = "lost", "the answer was left unfinished: " + plain(re.sub(r"<[^>]+>", "", last))[:120]
        else:
            outcome.kind = "abstained" if _ABSTAINED in last else "answered"
        self._check_conversation(chat, sources)

    def _check_conversation(self, chat: list, sources) -> None:
        self.log.problems += conversation_problems(chat, sources, self.asked_here, self.index, self.tag, self.others)
        users = sum(m.get("role") == "user" for m in chat if isinstance(m, dict))
        self.log.longest_conversation = max(self.log.longest_conversation, users)


def conversation_problems(chat: list, sources, asked: list[str], session: int, tag: str, others: list[str]) -> list[str]:
    """What is wrong with a conversation the server sent back to one session: it must hold this
    session's questions only, all of them, in order, each followed by an answer, and no other session's
    tag anywhere (chat or sources panel). [] when all is well."""
    problems = []
    users = [plain(_text(m)) for m in chat if m.get("role") == "user"]
    if users != asked:
        foreign = [u for u in users if u not in asked]
        missing = [q for q in asked if q not in users]
        problems.append(
            f"session {session}: conversation has user turns {users!r}, expected {asked!r}"
            + (f" (foreign: {foreign!r})" if foreign else "") + (f" (missing: {missing!r})" if missing else "")
        )
    for q in users:
        if tag not in q:
            problems.append(f"session {session}: user turn {q!r} lacks this session's tag {tag!r}")
    for i, m in enumerate(chat):
        if m.get("role") == "user" and (i + 1 >= len(chat) or chat[i + 1].get("role") != "assistant"):
            problems.append(f"session {session}: question {plain(_text(m))!r} has no answer after it")
    everything = " ".join(_text(m) for m in chat) + " " + (sources if isinstance(sources, str) else "")
    for other in others:
        if other in everything:
            problems.append(f"session {session} (tag {tag}) received another session's tag {other!r}")
    return problems


def run_load(url: str, sessions: int = 3, duration: float = 60.0, questions: list[str] | None = None, *,
             max_questions: int = 50, answer_timeout: float = ANSWER_TIMEOUT,
             per_conversation: int = QUESTIONS_PER_CONVERSATION, top_k: int | None = None,
             seed: int | None = None, verbose: bool = False) -> dict:
    """Run the load test against the UI at url (loopback only) and return the report (JSON-friendly).

    Keys: completed (answers + abstentions), answered, abstained, submitted, lost, failures, busy,
    queue_full, errors (count per kind), error_details, mixed (list of findings; [] when every
    conversation held only its own session's questions), throughput_per_min, latency_s / first_token_s
    (p50, p95, max, mean), elapsed_s, per_session.
    """
    url = check_loopback(url)
    if sessions < 1 or duration <= 0:
        raise ValueError("sessions must be >= 1 and duration > 0")
    questions = list(questions or QUESTIONS)
    tags = make_tags(sessions, seed)
    t0 = time.monotonic()
    deadline = t0 + duration
    logs = [SessionLog(i, tag) for i, tag in enumerate(tags)]
    workers = [
        _Session(i, url, tag, [t for t in tags if t != tag], questions, t0, deadline, max_questions,
                 answer_timeout, per_conversation, top_k, logs[i], verbose)
        for i, tag in enumerate(tags)
    ]
    threads = [threading.Thread(target=w.run, name=f"load-session-{w.index}", daemon=True) for w in workers]
    for t in threads:
        t.start()
    # bounded: no question starts after the deadline and each one waits at most answer_timeout
    hard_stop = deadline + answer_timeout + 60
    for t in threads:
        t.join(max(0.0, hard_stop - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    elapsed = time.monotonic() - t0
    return _report(url, sessions, duration, elapsed, logs, stuck)


def _report(url, sessions, duration, elapsed, logs: list[SessionLog], stuck: list[str]) -> dict:
    outcomes = [o for log in logs for o in log.outcomes]
    kinds = Counter(o.kind for o in outcomes)
    done = [o for o in outcomes if o.kind in ("answered", "abstained")]
    latencies = [o.latency for o in done if o.latency is not None]
    firsts = [o.first_token for o in done if o.first_token is not None]
    last_end = max((o.started + o.latency for o in done), default=elapsed)
    failure_kinds = ("error", "exception", "timeout", "lost")
    errors = {k: v for k, v in kinds.items() if k not in ("answered", "abstained")}
    if stuck:
        errors["stuck_session"] = len(stuck)
    mixed = [p for log in logs for p in log.problems]

    def stats(values):
        return {
            "p50": _percentile(values, 0.5), "p95": _percentile(values, 0.95),
            "max": max(values) if values else None, "mean": sum(values) / len(values) if values else None,
        }

    return {
        "url": url,
        "sessions": sessions,
        "duration_s": duration,
        "elapsed_s": round(elapsed, 1),
        "submitted": len(outcomes),
        "completed": len(done),
        "answered": kinds["answered"],
        "abstained": kinds["abstained"],
        "busy": kinds["busy"],
        "queue_full": kinds["queue_full"],
        "lost": kinds["lost"] + kinds["timeout"] + len(stuck),
        "failures": sum(kinds[k] for k in failure_kinds) + len(stuck),
        "errors": errors,
        "error_details": [f"session {o.session}: {o.kind}: {o.detail}" for o in outcomes if o.kind in failure_kinds],
        "mixed": mixed,
        "throughput_per_min": round(len(done) / (last_end / 60), 2) if done and last_end > 0 else 0.0,
        "latency_s": stats(latencies),
        "first_token_s": stats(firsts),
        "per_session": [
            {
                "session": log.session, "tag": log.tag,
                "completed": sum(o.kind in ("answered", "abstained") for o in log.outcomes),
                "submitted": len(log.outcomes), "conversations": log.conversations,
                "longest_conversation": log.longest_conversation,
                "kinds": dict(Counter(o.kind for o in log.outcomes)),
            }
            for log in logs
        ],
        "outcomes": [asdict(o) for o in outcomes],
    }


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.1f}"


def format_report(r: dict) -> str:
    lat, ft = r["latency_s"], r["first_token_s"]
    lines = [
        f"Load test of {r['url']}: {r['sessions']} sessions, {r['duration_s']:.0f} s of questions, "
        f"{r['elapsed_s']:.0f} s in all",
        f"  completed   {r['completed']} / {r['submitted']} submitted "
        f"({r['answered']} answered, {r['abstained']} abstained)",
        f"  throughput  {r['throughput_per_min']:.2f} answers/min",
        f"  latency     p50 {_fmt(lat['p50'])} s, p95 {_fmt(lat['p95'])} s, max {_fmt(lat['max'])} s "
        f"(click to final answer, queueing included)",
        f"  1st words   p50 {_fmt(ft['p50'])} s, p95 {_fmt(ft['p95'])} s",
        f"  refused     busy {r['busy']}, queue_full {r['queue_full']} (load shedding, not failures)",
        f"  failures    {r['failures']} (lost {r['lost']})" + (f": {r['errors']}" if r["failures"] else ""),
        f"  mixing      {'none' if not r['mixed'] else str(len(r['mixed'])) + ' finding(s)'}",
    ]
    for s in r["per_session"]:
        lines.append(f"    session {s['session']} ({s['tag']}): {s['completed']}/{s['submitted']} completed, "
                     f"{s['conversations']} conversation(s), longest {s['longest_conversation']} turns")
    lines += [f"  ! {d}" for d in r["error_details"]] + [f"  ! {m}" for m in r["mixed"]]
    return "\n".join(lines)


def serve(corpus: str | Path, max_answer_tokens: int, top_k: int, index: str | Path | None = None):
    """Open the corpus (index in a temp folder unless given) and serve the UI on a free loopback port.
    Returns (demo, url); demo.close() stops it."""
    import socket
    import tempfile

    import rag
    from ui.app import LAUNCH_OPTIONS, build

    bot = rag.open(corpus, index or tempfile.mkdtemp(prefix="rag-load-index-"),
                   max_answer_tokens=max_answer_tokens, top_k=top_k)
    bot.llm  # load the model before the clock starts
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build(bot)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    return demo, f"http://127.0.0.1:{port}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the running UI, e.g. http://127.0.0.1:7860 (loopback only)")
    target.add_argument("--serve", action="store_true", help="serve the UI in this process on a free loopback port")
    parser.add_argument("--sessions", type=int, default=3, help="concurrent client sessions (default 3)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds during which questions are sent (default 60)")
    parser.add_argument("--max-questions", type=int, default=50, help="per session (default 50)")
    parser.add_argument("--answer-timeout", type=float, default=ANSWER_TIMEOUT,
                        help=f"seconds before a question counts as lost (default {ANSWER_TIMEOUT:.0f})")
    parser.add_argument("--per-conversation", type=int, default=QUESTIONS_PER_CONVERSATION,
                        help=f"questions before a session starts a new conversation (default {QUESTIONS_PER_CONVERSATION})")
    parser.add_argument("--top-k", type=int, default=None,
                        help="the page's 'passages' slider (1-8; default: the server's setting)")
    parser.add_argument("--questions", type=Path, help="a text file, one question per line (default: built-in French questions)")
    parser.add_argument("--corpus", default="corpus", help="with --serve: the corpus folder (default corpus)")
    parser.add_argument("--max-answer-tokens", type=int, default=32,
                        help="with --serve: the server's answer length (default 32); a running server keeps its own "
                             "(RAG_MAX_ANSWER_TOKENS)")
    parser.add_argument("--seed", type=int, help="tags' random seed")
    parser.add_argument("--json", type=Path, help="also write the full report (every question) as JSON here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-question progress lines")
    args = parser.parse_args(argv)

    questions = None
    if args.questions:
        questions = [q.strip() for q in args.questions.read_text(encoding="utf-8").splitlines() if q.strip()]
    demo = None
    url = args.url
    try:
        if args.serve:
            demo, url = serve(args.corpus, args.max_answer_tokens, args.top_k or 2)
            print(f"serving {args.corpus} on {url}", file=sys.stderr)
        report = run_load(url, args.sessions, args.duration, questions, max_questions=args.max_questions,
                          answer_timeout=args.answer_timeout, per_conversation=args.per_conversation,
                          top_k=args.top_k, seed=args.seed, verbose=not args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if demo is not None:
            demo.close()
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    ok = not report["failures"] and not report["mixed"] and report["completed"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
