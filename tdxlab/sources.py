"""Where every claim comes from: the keys of ``data/sources.toml`` and the links they resolve to.

A citation anywhere in tdxlab (a data row's ``source``, a kernel function's ``fact``, a docstring, a notebook)
is one or more short keys, such as ``k-tdx-c-618`` (a kernel file at a commit), ``lore-kai-2024-04-22`` (a
mailing-list message by its Message-ID), ``m-sys-config`` (a TDX module file at tag TDX_1.5.01) or
``dec-relaxed-gates`` (one of tdxlab's own decisions, in ``docs/decisions.md``). This module reads the
table once and offers:

* :func:`get` -- the :class:`Source` of a key (title, kind, url, how it was checked);
* :func:`url` -- its link (a decision's link is relative to the repository, or to ``notebooks/``);
* :func:`link` / :func:`cite` -- HTML ``<a>`` elements for one key or a whole citation string, for views and
  widgets; :func:`markdown` -- ``[key](url)`` for notebooks and Markdown exports;
* :func:`function_link` -- the real kernel function behind a modelled one, at the commit of its era;
* :func:`keys_in` -- the keys a citation string names (``"k-cpu-c, lore-tglx-2022-11-22b"``);
* :func:`table_html` -- every source as a table, for the glossary notebook.

An unknown key is :class:`tdxlab.errors.UnknownName`; a malformed table is :class:`tdxlab.errors.BadInput`.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import NamedTuple

from tdxlab.errors import BadInput, UnknownName
from tdxlab.inputs import read_toml_file

__all__ = ["Source", "KINDS", "KEY_RE", "get", "keys", "url", "link", "cite", "markdown", "keys_in",
           "function_link", "functions", "table_html", "clear_cache"]

#: The kinds of source and the form each url must have.
KINDS = {
    "kernel-file": re.compile(r"^https://git\.kernel\.org/pub/scm/linux/kernel/git/torvalds/linux\.git/tree/"
                              r"[\w./-]+\?id=[0-9a-f]{12,40}$"),
    "kernel-commit": re.compile(r"^https://git\.kernel\.org/pub/scm/linux/kernel/git/torvalds/linux\.git/commit/"
                                r"\?id=[0-9a-f]{12,40}$"),
    "lore": re.compile(r"^https://lore\.kernel\.org/r/[^\s/<>]+@[^\s/<>]+$"),
    "module-file": re.compile(r"^https://github\.com/intel/tdx-module/blob/TDX_1\.5\.01/[\w./-]+(#L\d+)?$"),
    "decision": re.compile(r"^docs/decisions\.md(#[a-z0-9-]+)?$"),
}
#: What a key looks like: a prefix naming its kind, then lower-case words, digits and dots joined by '-'.
KEY_RE = re.compile(r"\b(?:k|kc|m|lore|dec)-[a-z0-9]+(?:[.-][a-z0-9]+)*\b")
_PREFIX = {"kernel-file": "k-", "kernel-commit": "kc-", "module-file": "m-", "lore": "lore-", "decision": "dec-"}
_FIELDS = ("title", "kind", "url", "checked")


class Source(NamedTuple):
    key: str
    title: str
    kind: str
    url: str
    checked: str


def _path() -> Path:
    from tdxlab.facts import data_dir

    return data_dir() / "sources.toml"


@functools.cache
def _load(path: Path) -> tuple[dict[str, Source], dict[tuple[str, str], str]]:
    doc = read_toml_file(path, "sources file")
    table = doc.get("source")
    if not isinstance(table, dict) or not table:
        raise BadInput(f"sources file {path} has no [source.KEY] tables")
    out: dict[str, Source] = {}
    for key, row in table.items():
        where = f"sources file {path}, [source.{key}]"
        if not isinstance(row, dict):
            raise BadInput(f"{where} is not a table")
        if KEY_RE.fullmatch(key) is None:
            raise BadInput(f"{where}: the key is not of the form PREFIX-words (k-, kc-, m-, lore-, dec-)")
        missing = [f for f in _FIELDS if not isinstance(row.get(f), str) or not row.get(f)]
        if missing:
            raise BadInput(f"{where}: missing or empty field(s) {', '.join(missing)}")
        extra = sorted(set(row) - set(_FIELDS))
        if extra:
            raise BadInput(f"{where}: unknown field(s) {', '.join(extra)}")
        kind = row["kind"]
        if kind not in KINDS:
            raise BadInput(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if not key.startswith(_PREFIX[kind]):
            raise BadInput(f"{where}: a {kind} key starts with {_PREFIX[kind]!r}")
        if KINDS[kind].match(row["url"]) is None:
            raise BadInput(f"{where}: url {row['url']!r} is not of the form a {kind} source has")
        out[key] = Source(key, row["title"], kind, row["url"], row["checked"])
    funcs: dict[tuple[str, str], str] = {}
    for i, row in enumerate(doc.get("function", []), 1):
        where = f"sources file {path}, [[function]] row {i}"
        if not isinstance(row, dict) or sorted(row) != ["era", "name", "source"]:
            raise BadInput(f"{where} must have exactly the fields name, era, source")
        if row["source"] not in out:
            raise BadInput(f"{where}: source {row['source']!r} is not a key of this file")
        k = (row["name"], row["era"])
        if k in funcs:
            raise BadInput(f"{where}: {row['name']} in era {row['era']} is listed twice")
        funcs[k] = row["source"]
    return out, funcs


def clear_cache() -> None:
    """Forget the loaded table (for tests that point ``TDXLAB_DATA`` elsewhere)."""
    _load.cache_clear()


def _table() -> dict[str, Source]:
    return _load(_path())[0]


def keys() -> list[str]:
    """Every key, in the file's order."""
    return list(_table())


def get(key: str) -> Source:
    """The source a key names; :class:`UnknownName` if there is none."""
    try:
        return _table()[key]
    except KeyError:
        raise UnknownName(f"unknown source key {key!r}: see data/sources.toml") from None


#: Where a notebook finds tdxlab's own decisions: the glossary notebook shows docs/decisions.md, and JupyterLab
#: (rooted at notebooks/) and the static exports cannot reach docs/ itself.
NOTEBOOK_DECISIONS = "glossary.ipynb"


def url(key: str, where: str = "repo") -> str:
    """The link of a key. A decision lives in this repository: its link is relative to the repository's top
    (``where="repo"``), or, for notebooks and their exports (``where="notebooks"``), it points into the
    glossary notebook, which shows the decisions with the same anchors."""
    s = get(key)
    if s.kind == "decision" and where == "notebooks":
        return NOTEBOOK_DECISIONS + s.url.removeprefix("docs/decisions.md")
    return s.url


def keys_in(text: str) -> list[str]:
    """The keys a text cites, in order, each once (whether or not they are known)."""
    seen: dict[str, None] = {}
    for m in KEY_RE.finditer(text or ""):
        seen.setdefault(m.group(0))
    return list(seen)


def link(key: str, where: str = "repo") -> str:
    """An HTML link for one key, its title as the tooltip; opens in a new tab."""
    s = get(key)
    return (f"<a href=\"{html.escape(url(key, where))}\" title=\"{html.escape(s.title)}\" target=\"_blank\" "
            f"rel=\"noopener\">{html.escape(key)}</a>")


def cite(text: str, where: str = "repo", strict: bool = True) -> str:
    """A citation string as HTML: every key in it becomes its link, the rest is escaped. ``strict=False``
    (text a user wrote, such as the source of a property added in a cell): a key that is not in the table
    stays text instead of being an error."""
    out, pos = [], 0
    for m in KEY_RE.finditer(text or ""):
        out.append(html.escape(text[pos:m.start()]))
        key = m.group(0)
        out.append(link(key, where) if strict or key in _table() else html.escape(key))
        pos = m.end()
    out.append(html.escape((text or "")[pos:]))
    return "".join(out)


def markdown(key: str, where: str = "notebooks") -> str:
    """``[key](url)``, for Markdown (a notebook's text, a Markdown export)."""
    return f"[{key}]({url(key, where)})"


def table_html(where: str = "notebooks") -> str:
    """Every source as an HTML table (key, what it is, how it was checked), each row anchored by its key, so a
    page can link ``#k-tdx-c-618``."""
    rows = "".join(
        f"<tr id=\"{html.escape(s.key)}\"><td style='text-align:left'>{link(s.key, where)}</td>"
        f"<td style='text-align:left'>{html.escape(s.title)}</td>"
        f"<td style='text-align:left'>{html.escape(s.checked)}</td></tr>"
        for s in (get(k) for k in keys()))
    return ("<table class='tdxlab-sources'><tr><th>key</th><th>source</th><th>checked</th></tr>"
            f"{rows}</table>")


def functions() -> dict[tuple[str, str], str]:
    """(kernel function, era) -> key, for every modelled kernel function that has a real counterpart."""
    return dict(_load(_path())[1])


def function_link(name: str, era: str) -> str | None:
    """The link to the real kernel function a modelled one stands for, at the commit of its era (a design's
    name, such as ``"kvm-6.16"``), or None for a function the model invents (a what-if's). A cpuhp helper
    named with its state (``"cpuhp_setup_state:virt/tdx:online"``) links to the helper."""
    funcs = _load(_path())[1]
    base = name.split(":", 1)[0]
    key = funcs.get((base, era)) or funcs.get((base, "any"))
    return None if key is None else url(key)


def decisions_markdown(text: str) -> str:
    """docs/decisions.md for a notebook: its prose as it is, and its table of decisions as one block per
    decision (key and question, then what the sources say, the decision, where it shows and its switch),
    since a six-column table is wider than a notebook. Each block keeps the row's anchor, so ``dec-`` links
    still land on it."""
    out: list[str] = []
    head: list[str] | None = None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            head = None
            out.append(line)
        elif head is None:
            head = cells
        elif set("".join(cells)) <= set("-: "):
            continue
        else:
            first, question, *rest = cells + [""] * (len(head) - len(cells))
            block = [f"{first}: {question}"]
            for name, value in zip(head[2:], rest):
                if value:
                    block.append(f"*{name}*: {value}")
            out.append("  \n".join(block) + "\n")
    return "\n".join(out)
