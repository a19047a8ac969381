"""tdxlab's error classes.

Every error a user can cause (a bad topology, an unknown design, a malformed scenario file, a step that is
not enabled, a status value that is not a 64-bit number, Graphviz missing) is raised as a subclass of
:class:`TdxlabError` whose message is one line naming the offending value. The command line prints that
line on stderr and exits with status 2; the notebooks and the stepper show it as a message, never a
traceback.
"""


#: The longest message an error shows; a longer one (a value quoted in full) is cut.
MAX_MESSAGE = 400


class TdxlabError(Exception):
    """Base class: one clear line, naming what is wrong. The line is printable (control characters such as
    terminal escape codes are shown as escapes) and at most MAX_MESSAGE characters long."""

    def __str__(self) -> str:  # always a single, printable, bounded line
        text = BaseException.__str__(self)
        if len(text) > 4 * MAX_MESSAGE:
            text = text[:4 * MAX_MESSAGE]
        line = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in " ".join(text.split()))
        return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 3] + "..."


class BadInput(TdxlabError, ValueError):
    """A value given by the user is malformed or out of range (a topology, a CPU id, a status value)."""


class UnknownName(BadInput, KeyError):
    """A design, rule, mutation, property, scenario or view that tdxlab does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return TdxlabError.__str__(self)


class ScenarioError(BadInput):
    """A scenario file that cannot be read or does not describe a valid scenario."""


class NotApplicable(BadInput):
    """A mutation that does not apply to the chosen design, or a property of a chapter it is not in."""


class StepNotEnabled(BadInput):
    """A step (or schedule label) that is not enabled in the current state."""


class Internal(TdxlabError):
    """tdxlab itself failed (a bug, or the system refused: out of memory, a full disk). The command line
    exits with status 4 for it, never 1 (which means "a property is violated")."""


class RenderError(TdxlabError):
    """A picture could not be rendered (for example, Graphviz's `dot` is not installed)."""
