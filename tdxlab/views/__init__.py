"""Views of the model: trace tables, state graphs, the module's state machine, lockdep's graph, swimlanes.

Every picture is a ``graphviz.Digraph`` (displayed in Jupyter through tdxlab.render: cached, and one clear
RenderError when Graphviz's ``dot`` is missing); every DOT source is deterministic.

* :func:`trace_frame`, :func:`trace_styler`, :func:`save_trace`: a trace as a table (trace.py)
* :func:`state_graph`: the explored state graph or its quotient (stategraph.py)
* :func:`module_graph`: the TDX module's system state machine and per-LP/per-package progress (modulegraph.py)
* :func:`lock_graph`: lockdep's taken-while-holding graph with its cycle (lockgraph.py)
* :func:`lanes`: per-CPU swimlanes of a trace (lanes.py)
* :func:`to_svg`, :func:`save_view`: render or save any of them (output.py)
* :func:`fit`: a pandas table drawn to fit a notebook's width (table.py)
"""
from tdxlab.views.lanes import lanes
from tdxlab.views.lockgraph import lock_graph
from tdxlab.views.modulegraph import module_graph
from tdxlab.views.output import save_view, to_svg
from tdxlab.views.stategraph import state_graph
from tdxlab.views.table import fit
from tdxlab.views.trace import save_trace, trace_frame, trace_styler

__all__ = ["trace_frame", "trace_styler", "save_trace", "state_graph", "module_graph", "lock_graph", "lanes",
           "to_svg", "save_view", "fit"]
