"""The four designs, 2022 to 2026, by their contract names (see ``tdxlab designs``)."""
from __future__ import annotations

from tdxlab.designs.core_71 import CORE_71
from tdxlab.designs.kvm_616 import KVM_616
from tdxlab.designs.v7_2022 import V7_2022
from tdxlab.designs.v19_2024 import V19_2024
from tdxlab.errors import UnknownName

DESIGNS = {d.name: d for d in (V7_2022, V19_2024, KVM_616, CORE_71)}


def get_design(name: str):
    if name not in DESIGNS:
        raise UnknownName(f"unknown design {name!r}: choose one of {', '.join(DESIGNS)}")
    return DESIGNS[name]
