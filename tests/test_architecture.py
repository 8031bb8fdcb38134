"""The shape of the code: imports point one way, the public API is small and complete, backends are
registered in one table per kind. Milliseconds, no model."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rag

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "rag"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            out.add(prefix)
            out |= {f"{prefix}.{a.name}" for a in node.names}  # `from . import files` names a module
    return out


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_imports_no_outer_layer():
    offenders = {
        _module_name(path): sorted(m for m in _imports(path, top_level_only=False) if m.split(".")[0] in ("ui", "eval", "bench"))
        for path in _core_files()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycle_inside_the_core():
    modules = {_module_name(p): p for p in _core_files()}
    graph = {name: {m for m in _imports(path, top_level_only=False) if m in modules and m != name}
             for name, path in modules.items()}
    # lazy imports and TYPE_CHECKING blocks count too: they hide a cycle, they do not remove it. A
    # package's __init__ is imported before its submodules: importing the parent is not a cycle edge
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    visiting, done, cycles = set(), set(), []

    def visit(name, trail):
        if name in done:
            return
        if name in visiting:
            cycles.append(trail[trail.index(name):] + [name])
            return
        visiting.add(name)
        for dep in sorted(graph[name]):
            visit(dep, trail + [name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []


def test_import_rag_gives_the_result_types_and_the_interfaces():
    for name in ("Answer", "Sentence", "Citation", "Disagreement", "Figure", "Passage", "Excerpt", "Chunk",
                 "Store", "Index", "LLM", "Embedder", "STORES", "LLMS", "EMBEDDERS", "RagError", "open", "Bot"):
        assert hasattr(rag, name) and name in rag.__all__, name


def test_import_rag_loads_no_backend():
    code = ("import sys, rag; heavy = [m for m in ('llama_cpp', 'faiss', 'torch', 'ollama', 'gradio', 'ui', 'eval') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("registry", [rag.LLMS, rag.EMBEDDERS, rag.STORES], ids=lambda r: r.variable)
def test_every_registered_backend_names_a_loader_and_documents_itself(registry):
    import importlib

    for backend in registry.backends:
        module, _, function = backend.target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), backend.target
        assert backend.help and backend.syntax


def test_specs_resolve_to_their_backend_and_unknown_ones_list_the_choices():
    assert rag.LLMS.resolve("ollama:qwen2.5:7b")[0].name == "ollama"
    assert rag.LLMS.resolve("ollama:qwen2.5:7b")[1] == "qwen2.5:7b"
    assert rag.LLMS.resolve("embedded") == (rag.LLMS.backends[0], "")
    assert rag.STORES.resolve("some/folder")[1] == "some/folder"  # a plain path is the files store
    assert rag.STORES.resolve("files")[1] == "files"  # a folder named like the backend is still a folder
    with pytest.raises(rag.BackendError, match=r"unknown LLM backend 'gpt4' \(RAG_LLM\); use embedded or gguf:"):
        rag.LLMS.resolve("gpt4")


def test_cli_help_comes_from_the_registries():
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    flat = " ".join(out.split())
    assert rag.LLMS.choices() in flat and rag.EMBEDDERS.choices() in flat


def test_the_readme_lists_every_registered_backend():
    readme = (ROOT / "README.md").read_text()
    for registry in (rag.STORES, rag.EMBEDDERS, rag.LLMS):
        assert registry.table() in readme, f"README is missing the current {registry.variable} table"


def test_every_setting_is_in_the_readmes_configuration_table():
    """Configuration lives in one place (rag/config.py) and is documented in one place."""
    import re

    names = set(re.findall(r'(?:_env|env_number|env_flag)\("([A-Z_]+)"', (ROOT / "rag" / "config.py").read_text()))
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert len(names) > 20 and not [n for n in sorted(names) if f"`{n}`" not in table]
