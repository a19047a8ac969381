"""tdxlab.decode(value) and `tdxlab decode VALUE`: known, unknown and bad values."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tdxlab
from tdxlab.decode import Decoded, decode
from tdxlab.errors import BadInput

UD = 0x8000FF0000000006


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tdxlab", "decode", *args], capture_output=True, text=True, timeout=60
    )


# ---- known values ----------------------------------------------------------------------------------
def test_seamcall_ud():
    d = tdxlab.decode(UD)
    assert isinstance(d, Decoded)
    assert (d.name, d.known, d.errno) == ("TDX_SEAMCALL_UD", True, "-EACCES")
    assert d.error and not d.non_recoverable and d.sw_class
    assert d.class_code == 0xFF and d.details == 6
    assert d.hex == "0x8000FF0000000006"
    assert d.origin == "kernel-sw"
    assert "post-VMXON" in d.cause and "never saw" in d.cause


def test_seamcall_ud_on_the_command_line():
    r = run_cli("0x8000FF0000000006")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout
    for needle in ("TDX_SEAMCALL_UD", "#UD", "not post-VMXON", "VMXON", "never saw the call", "-EACCES"):
        assert needle in out, needle


@pytest.mark.parametrize(
    "value, name, errno",
    [
        (0x8000FF00FFFF0000, "TDX_SEAMCALL_VMFAILINVALID", "-ENODEV"),
        (0x8000FF000000000D, "TDX_SEAMCALL_GP", "-EOPNOTSUPP"),
        (0x8000020200000000, "TDX_SYS_BUSY", "-EIO"),
        (0, "TDX_SUCCESS", "0"),
        (0x0000081500000000, "TDX_KEY_CONFIGURED", "-EIO"),
        (0xC000050C00000000, "TDX_SYS_CONFIG_NOT_PENDING", "-EIO"),
    ],
)
def test_known(value, name, errno):
    d = decode(value)
    assert (d.name, d.known, d.errno, d.matched) == (name, True, errno, "full value")
    assert d.meaning and d.cause and d.source
    from tdxlab import sources

    for key in sources.keys_in(d.source):  # every key resolves, and the text shows its link
        assert f"{key} {sources.url(key)}" in d.summary()


def test_key_configured_is_not_an_error_class():
    d = decode("0x0000081500000000")
    assert not d.error and not d.non_recoverable and not d.sw_class
    assert d.class_code == 0x08
    assert "not an error" in d.summary()


def test_success_is_zero_and_not_an_error():
    d = decode("0")
    assert d.errno == "0" and not d.error
    assert "0 (success)" in str(d)


def test_details_bits_matched_by_the_status_mask():
    d = decode(0xC000050200000007)
    assert d.name == "TDX_SYS_LP_INIT_NOT_DONE"
    assert d.known and d.matched == "status mask"
    assert d.details == 7
    assert d.errno == "-EIO"  # the kernel compares whole values
    assert "0x00000007" in d.summary()


# ---- unknown values --------------------------------------------------------------------------------
def test_unknown_value_is_decoded_by_its_class_bits():
    d = decode(0xC000FFFF12340000)
    assert d.name is None and not d.known
    assert d.error and d.non_recoverable and d.sw_class and d.class_code == 0xFF
    assert d.details == 0x12340000
    assert d.errno == "-EIO"
    assert "not a known status" in d.summary()
    assert d.cause == ""


def test_unknown_module_class():
    d = decode(0x8000777700000000)
    assert not d.known and d.class_code == 0x77 and not d.sw_class
    assert "not a known status" in str(d) and "0x77" in str(d)


def test_unknown_on_the_command_line():
    r = run_cli("0xC000FFFF12340000")
    assert r.returncode == 0
    assert "not a known status" in r.stdout


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_any_64_bit_value_decodes_consistently(v):
    d = decode(v)
    assert d.value == v and int(d.hex, 16) == v and len(d.hex) == 18
    assert d.error == bool(v >> 63) and d.non_recoverable == bool((v >> 62) & 1)
    assert d.class_code == (v >> 40) & 0xFF and d.details == v & 0xFFFFFFFF
    assert d.known == (d.name is not None)
    assert decode(d.hex) == d == decode(str(v))
    assert ("not a known status" in d.summary()) == (not d.known)


# ---- parsing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["0x8000FF0000000006", "  0x8000ff0000000006\n", "0X8000_FF00_0000_0006", str(UD), f"{UD:_}"]
)
def test_accepted_spellings(text):
    assert decode(text).value == UD


@pytest.mark.parametrize(
    "bad, words",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0xZZ", "not a hexadecimal number"),
        ("0x", "not a hexadecimal number"),
        ("-5", "negative"),
        ("-0x5", "negative"),
        ("0x10000000000000000", "65 bits"),
        (str(1 << 64), "65 bits"),
        ("twelve", "not a decimal number"),
        ("8000FF", "write hex with 0x"),
        ("1.5", "not a decimal number"),
    ],
)
def test_bad_input_raises_bad_input(bad, words):
    with pytest.raises(BadInput) as e:
        decode(bad)
    assert words in str(e.value)


@pytest.mark.parametrize("bad", [-1, 1 << 64, 1.0, None, True, b"0x1"])
def test_bad_python_values(bad):
    with pytest.raises(BadInput):
        decode(bad)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["0xZZ"], "0xZZ"),
        (["-5"], "negative"),
        (["0x10000000000000000"], "bits"),
        ([""], "empty"),
        (["abc"], "abc"),
    ],
)
def test_bad_input_through_the_real_cli(argv, words):
    r = run_cli(*argv)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tdxlab: error: ")
    assert words in lines[0]


# ---- JSON, HTML ------------------------------------------------------------------------------------
JSON_KEYS = {
    "value", "hex", "name", "known", "error", "non_recoverable", "sw_class", "class_code", "details",
    "errno", "meaning", "cause", "matched", "origin", "kind", "source",
}


def test_json():
    r = run_cli("--json", "0x8000FF0000000006")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert set(obj) == JSON_KEYS
    assert obj["name"] == "TDX_SEAMCALL_UD" and obj["errno"] == "-EACCES" and obj["value"] == UD
    assert obj["hex"] == "0x8000FF0000000006" and obj["details"] == 6 and obj["sw_class"] is True


def test_json_unknown():
    r = run_cli("0xC000FFFF12340000", "--json")
    obj = json.loads(r.stdout)
    assert obj["name"] is None and obj["known"] is False and obj["class_code"] == 0xFF


def test_decoded_is_frozen_and_has_html():
    d = decode(UD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    html = d._repr_html_()
    assert "<table>" in html and "TDX_SEAMCALL_UD" in html and "-EACCES" in html
    assert "&#x27;" in html or "'" not in d.class_bits()  # text is escaped


def test_tdxlab_decode_is_callable_before_and_after_importing_the_submodule():
    code = (
        "import tdxlab\n"
        "assert tdxlab.decode('0x8000FF0000000006').name == 'TDX_SEAMCALL_UD'\n"
        "import tdxlab.decode\n"
        "assert tdxlab.decode(0x8000FF0000000006).errno == '-EACCES'\n"
        "from tdxlab.decode import decode, cli_decode\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_cli_decode_in_process(capsys):
    from tdxlab.decode import cli_decode

    assert cli_decode("0x8000FF00FFFF0000") == 0
    assert "-ENODEV" in capsys.readouterr().out
    assert cli_decode("0xZZ") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tdxlab: error: ")
