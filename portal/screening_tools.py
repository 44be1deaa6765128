"""The screening-tool catalogue, read from policies/screening_tools.toml (data, not code).

Names, versions and result bands only: the tools' own items never enter the portal.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from portal.resources import POLICIES_DIR

CATALOGUE_PATH = POLICIES_DIR / "screening_tools.toml"
CONCERNS = ("none", "possible", "clear")


@dataclass(frozen=True)
class Band:
    key: str
    label: str
    concern: str  # none | possible | clear


@dataclass(frozen=True)
class Tool:
    key: str
    name: str
    versions: tuple[str, ...]
    bands: tuple[Band, ...]

    def band(self, key: str) -> Band | None:
        return next((b for b in self.bands if b.key == key), None)


@dataclass(frozen=True)
class ToolCatalogue:
    tools: tuple[Tool, ...]

    def get(self, key: str) -> Tool | None:
        return next((t for t in self.tools if t.key == key), None)


def parse(data: dict) -> ToolCatalogue:
    tools = []
    for raw in data.get("tool", []):
        bands = tuple(Band(b["key"], b["label"], b["concern"]) for b in raw.get("bands", ()))
        if not bands or any(b.concern not in CONCERNS for b in bands):
            raise ValueError(f"screening tool {raw['key']}: every band needs a known concern")
        if len({b.key for b in bands}) != len(bands):
            raise ValueError(f"screening tool {raw['key']}: duplicate band")
        versions = tuple(raw.get("versions", ()))
        if not versions:
            raise ValueError(f"screening tool {raw['key']}: name at least one version")
        tools.append(Tool(raw["key"], raw["name"], versions, bands))
    if len({t.key for t in tools}) != len(tools):
        raise ValueError("duplicate screening tool key")
    return ToolCatalogue(tuple(tools))


@cache
def catalogue(path: Path = CATALOGUE_PATH) -> ToolCatalogue:
    with path.open("rb") as handle:
        return parse(tomllib.load(handle))
