"""Which of photoface's modules one command passes through, and which calls go back and forth.

    python benchmarks/module_walk.py index tests/data/photos --db /tmp/walk.db --scheduler sync
    python benchmarks/module_walk.py search --face tests/data/photos/obama2.jpg --db /tmp/walk.db

Runs the command in this process under cProfile and prints the modules whose functions ran
(the packages cli/, db/ and models/ counted as one each) and the caller -> callee edges
between them; code run while importing, comprehensions and lambdas (callbacks a module
hands to another) are left out. PYTHONPATH=<other checkout>/src measures another version.
"""
from __future__ import annotations

import cProfile
import os
import pstats
import sys

PACKAGES = ("cli", "db", "models")
SKIP = ("<module>", "<genexpr>", "<lambda>", "<listcomp>", "<dictcomp>", "<setcomp>")


def main() -> int:
    import photoface
    from photoface.cli import main as photoface_main

    root = os.path.dirname(os.path.abspath(photoface.__file__)) + os.sep

    def module(path: str) -> str | None:
        if not path.startswith(root):
            return None
        name = path[len(root):].removesuffix(".py").replace(os.sep, ".").removesuffix(".__init__")
        return name.split(".")[0] if name.split(".")[0] in PACKAGES else name

    profile = cProfile.Profile()
    profile.enable()
    code = photoface_main(sys.argv[1:])
    profile.disable()
    edges = set()
    for (path, _, fn), (*_, callers) in pstats.Stats(profile).stats.items():
        callee = module(path)
        if callee and fn not in SKIP:
            edges |= {(module(c[0]), callee) for c in callers
                      if module(c[0]) not in (None, callee) and c[2] not in SKIP}
    modules = sorted({m for edge in edges for m in edge} | {"cli"})
    back = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    print(f"modules {len(modules)}: {', '.join(modules)}", file=sys.stderr)
    print(f"calls between modules {len(edges)}: {', '.join(f'{a}->{b}' for a, b in sorted(edges))}", file=sys.stderr)
    print(f"back and forth: {', '.join(f'{a}<->{b}' for a, b in back) or 'none'}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
