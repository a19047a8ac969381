"""The checker: breadth-first exploration of every interleaving (explore), the properties, the reductions,
shortest counterexamples and coverage.

``tdxlab.check(design, **scenario)`` checks a design (this package is callable, so the name works whether
it refers to the package or to the function of :mod:`tdxlab`):

>>> import tdxlab.check.explore
>>> tdxlab.check("core-7.1", topology="1x1x2").violated
[]
"""
import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, design, **kw):
        from tdxlab import _check

        return _check(design, **kw)


sys.modules[__name__].__class__ = _CallableModule
