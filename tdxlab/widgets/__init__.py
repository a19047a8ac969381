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
from tdxlab.widgets.decodewidget import DecodeWidget
from tdxlab.widgets.picker import TopologyPicker
from tdxlab.widgets.progress import check
from tdxlab.widgets.source import show_function
from tdxlab.widgets.stepper import Stepper
from tdxlab.widgets.review import ReviewMatrix, at_step, counterexample_stepper, review_matrix
from tdxlab.widgets.exercise import Exercise, exercises

__all__ = ["Stepper", "DecodeWidget", "TopologyPicker", "check", "show_function", "ReviewMatrix", "review_matrix",
           "counterexample_stepper", "at_step",
           "Exercise", "exercises"]
