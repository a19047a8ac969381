"""Draw docs/img/layers.svg: tdxlab's layers and who may import whom (docs/layers.md)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tdxlab.designs import DESIGNS  # noqa: E402
from tdxlab.render import save  # noqa: E402


def designs_label(width: int = 44) -> str:
    """The designs box's label: every design's name and the chapters they tell, from tdxlab.designs.DESIGNS
    (a DOT label: lines joined by \\n)."""
    import textwrap

    chapters = list(dict.fromkeys(c for d in DESIGNS.values() for c in d.chapters))
    names = textwrap.wrap(", ".join(DESIGNS), width, break_on_hyphens=False)
    return r"\n".join(["designs + mutations", *names, f"chapters: {', '.join(chapters)}"])


DOT = r"""digraph layers {
  graph [rankdir=BT, fontname="Helvetica", fontsize=11, nodesep=0.35, ranksep=0.45,
         label="an arrow points from a layer to a layer it may import", labelloc=b];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fillcolor="#eef3fb"];
  edge [color="#555555", arrowsize=0.7];
  facts [label="facts, decode\ndata/*.toml (cited facts)", fillcolor="#f6f6f6"];
  platform [label="platform\ntopology, CPU hotplug states"];
  module [label="module\nTDX module state and leaves\nold / relaxed rule"];
  kernel [label="kernel\ncontexts, IRQs, VMX, locks, IPIs,\ncpuhp, SEAMCALL (lang, machine)"];
  designs [label="@DESIGNS@"];
  scenario [label="scenario\nthe stepping API, data/scenarios"];
  check [label="check\nexplore, properties,\nreduce, shortest"];
  views [label="views\ntables, graphs, lanes"];
  widgets [label="widgets\nthe stepper", fillcolor="#fff4dd"];
  cli [label="cli\nthe tdxlab command", fillcolor="#fff4dd"];
  notebooks [label="notebooks", shape=note, fillcolor="#fff4dd"];
  module -> facts; platform -> facts [style=invis];
  kernel -> module; kernel -> platform; kernel -> facts;
  designs -> kernel;
  scenario -> designs;
  check -> scenario;
  views -> check; views -> scenario;
  widgets -> views; cli -> views; cli -> check;
  notebooks -> widgets;
}"""

if __name__ == "__main__":
    out = ROOT / "docs" / "img" / "layers.svg"
    save(DOT.replace("@DESIGNS@", designs_label()), out)
    print(f"wrote {out}")
