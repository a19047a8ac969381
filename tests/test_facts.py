"""Every fact in data/ against the fact sheet (../shared/tdx-facts.md), and tdxlab.facts's API."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tdxlab import facts
from tdxlab.errors import BadInput, UnknownName

REPO = Path(__file__).resolve().parent.parent
FACT_SHEET = REPO.parent / "shared" / "tdx-facts.md"


# ---- parsing the fact sheet ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sheet() -> str:
    if not FACT_SHEET.is_file():
        pytest.skip(f"the fact sheet {FACT_SHEET} is not present")
    return FACT_SHEET.read_text(encoding="utf-8")


def section(text: str, number: str) -> str:
    """The text of section `### number ...` (or `## number.`) up to the next heading of any level."""
    m = re.search(rf"^#{{2,3}} {re.escape(number)}\.?\s.*$", text, re.M)
    assert m, f"section {number} not found in the fact sheet"
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
    s11 = section(sheet, "1.1")
    out = {}
    for cells in table_rows(s11, "TDH."):
        name, no, scope, where, gate = cells[:5]
        out[name] = {"number": int(no), "scope": scope, "where": where, "gate": gate, "table": True}
    # "Other system leaves: TDH.SYS.LP.SHUTDOWN = 44 ..., TDH.SYS.SHUTDOWN = 52 and TDH.SYS.UPDATE = 53"
    for name, no in re.findall(r"(TDH(?:\.[A-Z]+)+) = (\d+)", s11):
        out.setdefault(name, {"number": int(no), "table": False})
    return out


def _value(cell: str) -> int:
    cell = cell.strip().strip("`")
    return int(cell, 16) if cell.lower().startswith("0x") else int(cell)


def sheet_statuses(sheet: str) -> dict[str, tuple[int, str]]:
    """name -> (value, section) from the §4.1 and §4.3 tables (A / B / C rows expanded) and §4.3's
    discrepancy note (the kernel's values)."""
    out: dict[str, tuple[int, str]] = {}

    def put(name: str, value: int, sec: str) -> None:
        if name in out:
            assert out[name][0] == value, f"the fact sheet gives {name} two values"
            return
        out[name] = (value, sec)

    for cells in table_rows(section(sheet, "4.1"), "TDX_"):
        put(cells[0], _value(cells[2]), "4.1")
    s43 = section(sheet, "4.3")
    for cells in table_rows(s43, "TDX_"):
        names = [n.strip() for n in cells[0].split("/")]
        values = [v.strip() for v in cells[1].split("/")]
        assert len(names) == len(values), f"row {cells[0]} has {len(names)} names, {len(values)} values"
        for n, v in zip(names, values):
            put(n, _value(v), "4.3")
    note = re.search(r"kernel's K-errno has(.*?)while TDX_1\.5\.01", s43, re.S)
    assert note, "the §4.3 discrepancy note is not where the test expects it"
    for n, v in re.findall(r"(TDX_[A-Z_]+) =\s*(0x[0-9A-Fa-f]+)", note.group(1)):
        put(n, int(v, 16), "4.3")
    return out


def sheet_errnos(sheet: str) -> dict[str, str]:
    """The §4.2 conversion table: status name -> kernel return."""
    out = {}
    for cells in table_rows(section(sheet, "4.2"), "TDX_"):
        out[cells[0]] = cells[1]
    for cells in table_rows(section(sheet, "4.2"), "anything else"):
        out["*"] = re.search(r"-E[A-Z]+", cells[1]).group(0)
    return out


# ---- leaves ----------------------------------------------------------------------------------------
SCOPE_WORDS = [
    ("exactly once", "global-once"),
    ("global, once", "global-once"),
    ("per logical cpu", "per-lp"),
    ("per package", "per-package"),
    ("per tdmr", "per-tdmr"),
    ("read-only", "read-only"),
    ("read one", "read-only"),
    ("read all", "read-only"),
]


def test_every_leaf_of_the_sheet_is_in_data_with_its_number(sheet):
    data = dict(zip(facts.leaves()["name"], facts.leaves()["number"]))
    expected = {name: row["number"] for name, row in sheet_leaves(sheet).items()}
    assert len(expected) == 11
    assert data == expected


def test_bringup_flag_matches_the_table(sheet):
    rows = sheet_leaves(sheet)
    df = facts.leaves().set_index("name")
    for name, row in rows.items():
        assert bool(df.loc[name, "bringup"]) == row["table"], name


def test_leaf_scope_matches_the_table(sheet):
    df = facts.leaves().set_index("name")
    for name, row in sheet_leaves(sheet).items():
        if not row["table"]:
            continue
        words = row["scope"].lower()
        scopes = {s for w, s in SCOPE_WORDS if w in words}
        assert len(scopes) == 1, f"{name}: cannot read a scope from {row['scope']!r}"
        assert df.loc[name, "scope"] == scopes.pop(), name


def test_leaf_gates_match_the_module_gate_column(sheet):
    df = facts.leaves().set_index("name")
    statuses = set(facts.status_codes()["name"])
    for name, row in sheet_leaves(sheet).items():
        if not row["table"]:
            continue
        gate = row["gate"]
        otherwise = df.loc[name, "otherwise"]
        assert otherwise in statuses, f"{name}: {otherwise} is not in status_codes.toml"
        # the leaf's gate cell names it, or else the "Dispatcher gate" list under the table does
        short = name.removeprefix("TDH.")
        dispatcher = [ln for ln in section(sheet, "1.1").splitlines() if short in ln and otherwise in ln]
        assert otherwise in gate or dispatcher, f"{name}: the sheet does not give {otherwise} for it"
        accepted = list(df.loc[name, "accepted_states"])
        m = re.search(r"state must be (\w+)", gate, re.I) or re.search(r"Only allowed in (\w+)", gate)
        if m:  # INIT, LP.INIT, CONFIG, KEY.CONFIG, TDMR.INIT: exactly one state
            assert accepted == [m.group(1)], name
        else:  # INFO, RD, RDALL: gated on the LP only, accepted in every state
            assert "lp_is_init" in gate, name
            assert accepted == list(facts.MODULE_STATES), name


def test_every_status_a_leaf_names_in_its_gate_is_in_data(sheet):
    statuses = set(facts.status_codes()["name"])
    for name, row in sheet_leaves(sheet).items():
        for status in re.findall(r"TDX_[A-Z_]+", row.get("gate", "")):
            assert status in statuses, f"{name}'s gate names {status}, missing from status_codes.toml"


def test_leaf_rows_name_a_section_that_names_them(sheet):
    for _, row in facts.leaves().iterrows():
        sec = re.fullmatch(r"tdx-facts §([\d.]+)", row["source"]).group(1)
        assert row["name"] in section(sheet, sec), row["name"]


def test_leaf_numbers_constant():
    assert facts.LEAF_NUMBERS["TDH.SYS.INIT"] == 33
    assert facts.LEAF_NUMBERS["TDH.SYS.KEY.CONFIG"] == 31
    assert facts.LEAF_NUMBERS == dict(zip(facts.leaves()["name"], facts.leaves()["number"]))
    assert facts.leaf_number("TDH.SYS.TDMR.INIT") == 36
    with pytest.raises(UnknownName):
        facts.leaf_number("TDH.SYS.NOPE")


# ---- status codes ----------------------------------------------------------------------------------
def test_every_status_of_the_sheet_is_in_data_with_its_value(sheet):
    expected = {n: v for n, (v, _) in sheet_statuses(sheet).items()}
    df = facts.status_codes()
    data = {n: int(v, 16) for n, v in zip(df["name"], df["value"])}
    assert len(expected) >= 30
    assert data == expected


def test_status_rows_name_the_section_they_come_from(sheet):
    where = sheet_statuses(sheet)
    for _, row in facts.status_codes().iterrows():
        sec = re.fullmatch(r"tdx-facts §([\d.]+)", row["source"]).group(1)
        assert row["name"] in section(sheet, sec), row["name"]
        if where[row["name"]][1] == "4.3" and row["name"] != "TDX_RND_NO_ENTROPY":
            assert sec == "4.3", row["name"]


def test_origin_kernel_sw_is_the_kernels_own_definitions(sheet):
    kernel_defined = {
        cells[0]
        for cells in table_rows(section(sheet, "4.1"), "TDX_")
        if cells[1] not in ("0", "module code")
    }
    df = facts.status_codes()
    assert set(df[df["origin"] == "kernel-sw"]["name"]) == kernel_defined
    assert set(df[df["kind"] == "mask"]["name"]) == {"TDX_ERROR", "TDX_NON_RECOVERABLE"}


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
    for f in ("leaves.toml", "status_codes.toml"):
        (tmp_path / f).write_text((REPO / "data" / f).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("TDXLAB_DATA", str(tmp_path))
    yield tmp_path
    monkeypatch.delenv("TDXLAB_DATA")
    facts.clear_cache()


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
        ("status_codes.toml", 'source = "tdx-facts §4.1"', 'source = "memory"', "source"),
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
