"""The house rules, checked on the source: storage in one package, Dask at the edge, TensorFlow
lazy, the CLI and the web UI on top of api only, no cycles between modules, small files."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "photoface"


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        name = ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def imports(name: str, tree: ast.Module, top_level_only: bool = False) -> set[str]:
    """Absolute names of what a module imports (at module level only, if asked)."""
    package = name if (SRC.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


MODULES = modules()


def test_only_the_db_package_talks_to_sqlite():
    for name, tree in MODULES.items():
        if not name.startswith("photoface.db"):
            found = {m for m in imports(name, tree) if m.split(".")[0] in ("sqlite3", "sqlite_utils")}
            assert not found, f"{name} imports {found}"
            text = ast.unparse(tree)
            for word in ("SELECT ", "UPDATE ", "INSERT ", "DELETE FROM", ".execute("):
                assert word not in text, f"{name} holds SQL ({word.strip()})"


def test_embeddings_are_decoded_in_one_place():
    """Stored vectors are decoded by vectors alone; dlib_resnet decodes a weight file's
    tensors (dlib's serialization), which holds no embedding."""
    users = [name for name, tree in MODULES.items() if "frombuffer" in ast.unparse(tree)]
    assert users == ["photoface.models.dlib_resnet", "photoface.vectors"]


def test_dask_only_in_parallel_and_tensorflow_only_lazily_in_models():
    for name, tree in MODULES.items():
        if name != "photoface.parallel":
            assert not {m for m in imports(name, tree) if m.split(".")[0] in ("dask", "distributed")}, name
        assert not {m for m in imports(name, tree, top_level_only=True) if m.startswith("tensorflow")}, name
        if not name.startswith("photoface.models"):
            assert not {m for m in imports(name, tree) if m.startswith("tensorflow")}, name


@pytest.mark.parametrize("front", ["photoface.cli", "photoface.web"])
def test_the_cli_and_the_web_ui_call_only_api(front):
    allowed = {"photoface", "photoface.api", "photoface.config", "photoface.errors", "photoface.types",
               "photoface.web", "photoface.__version__"}
    for name, tree in MODULES.items():
        if name == front or name.startswith(front + "."):
            mine = {m for m in imports(name, tree) if m.startswith("photoface")
                    and not m.startswith(front) and m.rpartition(".")[0] not in (front, "photoface.api",
                                                                                  "photoface.config",
                                                                                  "photoface.errors",
                                                                                  "photoface.types")}
            assert mine <= allowed | {f"photoface.{x}" for x in ("api", "web")} | {"photoface.web.serve"}, (name, mine)


def test_no_import_cycles_between_modules():
    graph = {name: {m if m in MODULES else m.rpartition(".")[0] for m in imports(name, tree, top_level_only=True)}
             & MODULES.keys() - {name} for name, tree in MODULES.items()}
    for name in graph:  # a package's __init__ may gather its own modules
        if (SRC.parent / name.replace(".", "/") / "__init__.py").exists():
            graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_no_source_file_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long
