"""Every fact in data/ against the repository's fact base (docs/facts.md), and tdxlab.facts's API.

docs/facts.md states the facts in words and tables, each with its source keys; its tables were written
from the primary sources (the TDX_1.5.01 headers, the kernel headers), not from data/. These tests check
that the two agree, so a change to one without the other fails."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tdxlab import facts, sources
from tdxlab.errors import BadInput, UnknownName

REPO = Path(__file__).resolve().parent.parent
FACT_BASE = REPO / "docs" / "facts.md"


# ---- parsing the fact base -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sheet() -> str:
    return FACT_BASE.read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The text under the heading whose title starts with `title`, up to the next heading of any level."""
    m = re.search(rf"^#{{2,3}} {re.escape(title)}.*$", text, re.M)
    assert m, f"section {title!r} not found in docs/facts.md"
    rest = text[m.end():]
    end = re.search(r"^#{1,3} ", rest, re.M)
    return rest[: end.start()] if end else rest


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the markdown table rows whose first cell starts with `first_cell`."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0].startswith(first_cell):
            rows.append(cells)
    return rows


def sheet_leaves(sheet: str) -> dict[str, dict]:
    out = {}
    for cells in table_rows(section(sheet, "Leaves"), "TDH."):
        name, no, scope, bringup, gate, otherwise, srcs = cells
        out[name] = {"number": int(no), "scope": scope, "bringup": bringup == "yes", "gate": gate,
                     "otherwise": "" if otherwise == "\u2014" else otherwise, "sources": srcs}
    return out


def sheet_statuses(sheet: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for cells in table_rows(section(sheet, "Status codes"), "TDX_"):
        name, value, origin, srcs = cells
        assert name not in out, f"docs/facts.md lists {name} twice"
        out[name] = {"value": int(value, 16), "origin": origin, "sources": srcs}
    return out


def sheet_errnos(sheet: str) -> dict[str, str]:
    """The kernel-return table: status name -> kernel return ("*" for anything else)."""
    out = {}
    text = section(sheet, "4. SEAMCALL results")
    for cells in table_rows(text, "TDX_"):
        out[cells[0]] = cells[1]
    for cells in table_rows(text, "anything else"):
        out["*"] = re.search(r"-E[A-Z]+", cells[1]).group(0)
    return out


def keys(cell: str) -> set[str]:
    """The source keys a table cell or a data field cites (plain or as Markdown links)."""
    return set(sources.keys_in(cell))


# ---- leaves ----------------------------------------------------------------------------------------
def test_every_leaf_of_the_fact_base_is_in_data_with_its_number(sheet):
    data = dict(zip(facts.leaves()["name"], facts.leaves()["number"]))
    expected = {name: row["number"] for name, row in sheet_leaves(sheet).items()}
    assert len(expected) == 12  # TDH.SYS.DISABLE (the teardown chapter) is the twelfth
    assert data == expected


def test_bringup_flag_and_scope_match_the_table(sheet):
    df = facts.leaves().set_index("name")
    for name, row in sheet_leaves(sheet).items():
        assert bool(df.loc[name, "bringup"]) == row["bringup"], name
        assert df.loc[name, "scope"] == row["scope"], name


def test_leaf_gates_match_the_gate_column(sheet):
    df = facts.leaves().set_index("name")
    statuses = set(facts.status_codes()["name"])
    for name, row in sheet_leaves(sheet).items():
        otherwise = df.loc[name, "otherwise"]
        assert otherwise == row["otherwise"], name
        assert not otherwise or otherwise in statuses, f"{name}: {otherwise} is not in status_codes.toml"
        accepted = list(df.loc[name, "accepted_states"])
        gate = row["gate"]
        if gate.startswith("any bring-up state"):  # INFO, RD, RDALL (gated on the LP), LP.SHUTDOWN
            assert accepted == list(facts.MODULE_STATES), name
            assert ("LP.INIT done" in gate) == (otherwise == "TDX_SYS_LP_INIT_NOT_DONE"), name
        else:
            assert accepted == [gate], name


def test_the_fact_base_says_what_sys_shutdown_lets_through(sheet):
    """In SYS_SHUTDOWN the dispatcher lets TDH.SYS.LP.SHUTDOWN alone through; data/leaves.toml's states are
    the bring-up states only, and each non-bring-up row's `requires` says the same about SYS_SHUTDOWN."""
    gates = section(sheet, "2. The TDX module")
    assert "in SYS_SHUTDOWN every leaf except\n  TDH.SYS.LP.SHUTDOWN gets TDX_SYS_SHUTDOWN" in gates
    assert "SYS_SHUTDOWN" not in facts.MODULE_STATES
    df = facts.leaves().set_index("name")
    assert "lets through in SYS_SHUTDOWN" in df.loc["TDH.SYS.LP.SHUTDOWN", "requires"]
    assert "every leaf but TDH.SYS.LP.SHUTDOWN" in df.loc["TDH.SYS.SHUTDOWN", "requires"]
    assert "every state but SYS_SHUTDOWN" in df.loc["TDH.SYS.INFO", "requires"]


def test_every_status_a_leaf_names_is_in_data():
    statuses = set(facts.status_codes()["name"])
    for _, row in facts.leaves().iterrows():
        for status in re.findall(r"TDX_[A-Z_]+", row["requires"] + " " + row["otherwise"]):
            assert status in statuses, f"{row['name']} names {status}, missing from status_codes.toml"


def test_leaf_rows_cite_the_sources_the_fact_base_gives(sheet):
    table = sheet_leaves(sheet)
    for _, row in facts.leaves().iterrows():
        cited = keys(row["source"])
        # the leaf's own handler (or the dispatcher, for the leaves without a gate of their own)
        assert cited & keys(table[row["name"]]["sources"]), row["name"]
        for k in cited:
            sources.get(k)


def test_leaf_numbers_constant():
    assert facts.LEAF_NUMBERS["TDH.SYS.INIT"] == 33
    assert facts.LEAF_NUMBERS["TDH.SYS.KEY.CONFIG"] == 31
    assert facts.LEAF_NUMBERS == dict(zip(facts.leaves()["name"], facts.leaves()["number"]))
    assert facts.leaf_number("TDH.SYS.TDMR.INIT") == 36
    with pytest.raises(UnknownName):
        facts.leaf_number("TDH.SYS.NOPE")


# ---- status codes ----------------------------------------------------------------------------------
def test_every_status_of_the_fact_base_is_in_data_with_its_value(sheet):
    expected = {n: r["value"] for n, r in sheet_statuses(sheet).items()}
    df = facts.status_codes()
    data = {n: int(v, 16) for n, v in zip(df["name"], df["value"])}
    assert len(expected) >= 30
    assert data == expected


def test_status_rows_cite_the_sources_the_fact_base_gives(sheet):
    table = sheet_statuses(sheet)
    for _, row in facts.status_codes().iterrows():
        assert keys(table[row["name"]]["sources"]) <= keys(row["source"]), row["name"]
        assert row["origin"] == table[row["name"]]["origin"], row["name"]


def test_origin_kernel_sw_is_the_kernels_own_definitions(sheet):
    kernel_defined = {n for n, r in sheet_statuses(sheet).items() if r["origin"] == "kernel-sw"}
    df = facts.status_codes()
    assert set(df[df["origin"] == "kernel-sw"]["name"]) == kernel_defined
    assert set(df[df["kind"] == "mask"]["name"]) == {"TDX_ERROR", "TDX_NON_RECOVERABLE"}


def test_causes_that_name_a_count_or_a_single_leaf(sheet):
    """sc_retry() makes at most RDRAND_RETRY_LOOPS = 10 calls in all; TDX_SYS_STATE_INCORRECT comes from
    TDH.SYS.UPDATE alone in TDX_1.5.01. The data's causes say what the fact base says."""
    df = facts.status_codes().set_index("name")
    assert "at most\n  RDRAND_RETRY_LOOPS = 10 calls in all" in section(sheet, "4. SEAMCALL results")
    assert "at most RDRAND_RETRY_LOOPS = 10 calls in all" in df.loc["TDX_RND_NO_ENTROPY", "cause"]
    assert "no other leaf returns that status in TDX_1.5.01" in section(sheet, "2. The TDX module")
    cause = df.loc["TDX_SYS_STATE_INCORRECT", "cause"]
    assert cause.startswith("TDH.SYS.UPDATE") and "no other leaf" in cause
    assert "m-sys-update" in df.loc["TDX_SYS_STATE_INCORRECT", "source"]


def test_derived_columns():
    df = facts.status_codes().set_index("name")
    for name, row in df.iterrows():
        v = int(row["value"], 16)
        assert row["int_value"] == v
        assert row["error"] == bool(v >> 63)
        assert row["non_recoverable"] == bool((v >> 62) & 1)
        assert row["class"] == (v >> 40) & 0xFF
        assert row["sw_class"] == ((v >> 40) & 0xFF == 0xFF)
        assert row["details"] == v & 0xFFFFFFFF
    # the reserved class is the kernel's alone
    assert set(df[df["sw_class"]].index) == {
        "TDX_SW_ERROR", "TDX_SEAMCALL_VMFAILINVALID", "TDX_SEAMCALL_GP", "TDX_SEAMCALL_UD"
    }
    assert not df.loc["TDX_KEY_CONFIGURED", "error"]
    assert not df.loc["TDX_TDMR_ALREADY_INITIALIZED", "error"]
    assert df.loc["TDX_SYS_CONFIG_NOT_PENDING", "non_recoverable"]
    assert df.loc["TDX_SEAMCALL_UD", "details"] == 6
    assert df.loc["TDX_SEAMCALL_GP", "details"] == 13


def test_errno_follows_the_kernels_conversion(sheet):
    table = sheet_errnos(sheet)
    assert table.pop("*") == "-EIO"
    assert table == {
        "TDX_SUCCESS": "0",
        "TDX_SEAMCALL_VMFAILINVALID": "-ENODEV",
        "TDX_SEAMCALL_GP": "-EOPNOTSUPP",
        "TDX_SEAMCALL_UD": "-EACCES",
    }
    df = facts.status_codes()
    for _, row in df[df["kind"] == "status"].iterrows():
        assert row["errno"] == table.get(row["name"], "-EIO"), row["name"]
        assert facts.kernel_errno(row["int_value"]) == row["errno"]


def test_named_constants():
    assert facts.TDX_SEAMCALL_UD == 0x8000FF0000000006
    assert facts.TDX_SEAMCALL_VMFAILINVALID == 0x8000FF00FFFF0000
    assert facts.TDX_SW_ERROR | 13 == facts.TDX_SEAMCALL_GP
    assert facts.TDX_ERROR == 1 << 63
    from tdxlab.facts import TDX_SYS_BUSY

    assert TDX_SYS_BUSY == 0x8000020200000000
    for _, row in facts.status_codes().iterrows():
        assert getattr(facts, row["name"]) == int(row["value"], 16)
        assert facts.status_value(row["name"]) == int(row["value"], 16)
    assert "TDX_SEAMCALL_UD" in dir(facts)
    with pytest.raises(AttributeError):
        facts.TDX_NO_SUCH_STATUS  # noqa: B018


def test_status_value_and_name():
    with pytest.raises(UnknownName, match="TDX_NOPE"):
        facts.status_value("TDX_NOPE")
    assert facts.status_name(0x8000FF0000000006) == "TDX_SEAMCALL_UD"
    assert facts.status_name(0xC000050200000007) == "TDX_SYS_LP_INIT_NOT_DONE"  # under the mask
    assert facts.status_name(0) == "TDX_SUCCESS"
    assert facts.status_name(5) is None  # the kernel compares TDX_SUCCESS whole
    assert facts.status_name(0x8000FF0000000007) is None  # the kernel's codes are compared whole
    assert facts.status_name(0xC000FFFF12340000) is None


def test_the_dataframes_are_copies():
    df = facts.status_codes()
    df.loc[0, "name"] = "changed"
    assert facts.status_codes().loc[0, "name"] != "changed"


# ---- malformed data --------------------------------------------------------------------------------
@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    for f in ("leaves.toml", "status_codes.toml", "sources.toml"):
        (tmp_path / f).write_text((REPO / "data" / f).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("TDXLAB_DATA", str(tmp_path))
    yield tmp_path
    monkeypatch.delenv("TDXLAB_DATA")
    facts.clear_cache()
    sources.clear_cache()


def test_tdxlab_data_overrides_the_directory(data_copy):
    text = (data_copy / "status_codes.toml").read_text()
    (data_copy / "status_codes.toml").write_text(text.replace('value = "0x8000FF0000000006"', 'value = "0x8000FF0000000016"'))
    assert facts.data_dir() == data_copy.resolve()
    assert facts.TDX_SEAMCALL_UD == 0x8000FF0000000016


@pytest.mark.parametrize(
    "file, old, new, problem",
    [
        ("status_codes.toml", "[[status]]", "[[status]", "not valid TOML"),
        ("status_codes.toml", 'value = "0x8000FF0000000006"', 'value = "0xZZ"', "not a hex string"),
        ("status_codes.toml", 'value = "0x8000FF0000000006"', 'value = "0x18000FF0000000006"', "not a hex string"),
        ("status_codes.toml", 'value = "0x8000FF0000000006"', "value = 6", "should be str"),
        ("status_codes.toml", 'origin = "module"', 'origin = "bios"', "origin"),
        ("status_codes.toml", 'source = "k-asm-tdx-h"', 'source = "memory"', "not a known key"),
        ("status_codes.toml", 'source = "k-asm-tdx-h"', 'source = "k-asm-tdx-h, k-' + 'nope"', "not a known key"),
        ("status_codes.toml", 'value = "0x8000FF0000000006"', 'value = "0x8000FF000000000D"', "also"),
        ("leaves.toml", 'scope = "per-tdmr"', 'scope = "per-node"', "scope"),
        ("leaves.toml", 'accepted_states = ["SYS_READY"]', 'accepted_states = ["READY"]', "accepted_states"),
        ("leaves.toml", "number = 36\n", "", "missing field(s) number"),
        ("leaves.toml", "number = 36\n", "number = 36\ncolour = 1\n", "unknown field(s) colour"),
    ],
)
def test_malformed_data_is_bad_input_naming_file_and_problem(data_copy, file, old, new, problem):
    path = data_copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    loader = facts.status_codes if file == "status_codes.toml" else facts.leaves
    with pytest.raises(BadInput) as e:
        loader()
    msg = str(e.value)
    assert file in msg and problem in msg
    assert "\n" not in msg


def test_missing_data_file_is_bad_input(data_copy):
    (data_copy / "leaves.toml").unlink()
    with pytest.raises(BadInput, match="leaves.toml is missing"):
        facts.leaves()
