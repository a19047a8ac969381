"""Interactive widgets for the notebooks (ipywidgets 8): the logic lives here, notebook cells only create
them.

* :class:`Stepper`: step through a scenario, a schedule or a counterexample (stepper.py);
* :class:`DecodeWidget`: type a SEAMCALL status value, read its decoding (decodewidget.py);
* :class:`TopologyPicker`: packages, cores, threads, nosmt, offline CPUs, design and rule -> a Stepper
  (picker.py);
* :func:`check`: run the model checker with a progress bar (progress.py);
* :func:`show_function`: a modelled kernel function's instruction list beside the kernel's name for it
  (source.py);
* :class:`ReviewMatrix`: the design review's verdict matrix, each cell replaying its counterexample in a
  Stepper (review.py);
* :class:`Exercise`, :func:`exercises`: predict-then-check questions, the answer computed by the model and
  shown behind a button (exercise.py).
"""
import importlib

# Imported when first used (PEP 562): a view that needs only a text helper of this package (for example
# tdxlab.views.lanes and tdxlab.widgets.panels) must not pull in ipywidgets, which the core does not install.
_WHERE = {"DecodeWidget": "decodewidget", "TopologyPicker": "picker", "check": "progress",
          "show_function": "source", "Stepper": "stepper", "ReviewMatrix": "review", "at_step": "review",
          "counterexample_stepper": "review", "review_matrix": "review", "Exercise": "exercise",
          "exercises": "exercise"}
__all__ = ["Stepper", "DecodeWidget", "TopologyPicker", "check", "show_function", "ReviewMatrix", "review_matrix",
           "counterexample_stepper", "at_step",
           "Exercise", "exercises"]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"tdxlab.widgets.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tdxlab.widgets' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
