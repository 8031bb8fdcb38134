"""Backends by spec: one table per kind (LLM, embedder, store) names each backend, its spec syntax
and a one-line help. CLI help, the UI label, error messages and the README table all come from it.

A backend is one module; registering it is one `Backend(...)` row in its kind's table. The module is
imported only when its spec is used, so `import rag` never pulls in llama.cpp, torch or a database
driver.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import BackendError


@dataclass(frozen=True)
class Backend:
    name: str  # "ollama"; a spec is the name alone or "name:argument"
    syntax: str  # "ollama:<model>", as users write it
    help: str  # one line for the CLI, the UI and the README
    target: str  # "rag.llms.ollama:load": called with (argument, settings)
    default: bool = False  # takes every spec that names no other backend, whole (a folder path, say)
    aliases: tuple[str, ...] = ()  # other names users write for it ("postgres" as libpq accepts it)

    def argument(self, spec: str) -> str | None:
        """The part after "name:", "" for the bare name, None when the spec is not for this backend."""
        for name in (self.name, *self.aliases):
            if spec == name:
                return ""
            if spec.startswith(name + ":"):
                return spec[len(name) + 1:]
        return None

    def load(self, argument: str, *args: Any) -> Any:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)(argument, *args)


_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def redact(url: str) -> str:
    """The URL without its password, as it may appear in messages."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL urllib can take apart ("http://[::1"): nothing of it is shown
        return url.partition("://")[0] + "://…"
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


class Registry:
    """The backends of one kind; `variable` is the setting that chooses one (RAG_LLM, …)."""

    def __init__(self, kind: str, variable: str, backends: list[Backend]) -> None:
        self.kind, self.variable, self.backends = kind, variable, list(backends)

    def resolve(self, spec: str) -> tuple[Backend, str]:
        spec = (spec or "").strip()
        for backend in self.backends:
            argument = None if backend.default else backend.argument(spec)
            if argument is not None:
                return backend, argument
        url = _URL.match(spec)
        if url:  # never a folder named "mysql:": a URL for a backend that does not exist here
            raise BackendError(f"unknown {self.kind} {redact(spec)!r} ({self.variable}): no {self.kind} speaks "
                               f"{url.group(1)}://; use {self.choices(' or ')}")
        for backend in self.backends:
            if backend.default and spec:
                return backend, spec
        raise BackendError(f"unknown {self.kind} {spec!r} ({self.variable}); use {self.choices(' or ')}")

    def load(self, spec: str, *args: Any) -> Any:
        backend, argument = self.resolve(spec)
        return backend.load(argument, *args)

    def choices(self, sep: str = " | ") -> str:
        """'embedded | gguf:/path/model.gguf | ollama:<model>' for help texts."""
        return sep.join(b.syntax for b in self.backends)

    def table(self) -> str:
        """A Markdown table of the backends (the README's)."""
        rows = [f"| `{b.syntax}` | {b.help} |" for b in self.backends]
        return "\n".join([f"| `{self.variable}` | meaning |", "|---|---|", *rows])
