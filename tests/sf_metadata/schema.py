"""Validate metadata XML against the Metadata API's own type definitions.

`@salesforce/types` (pinned in sf/package.json, installed by `make sf-tooling`) ships
`lib/metadata.d.ts`, TypeScript generated from the Metadata API WSDL: every metadata type with its
elements in WSDL order, which elements are required or repeated, and every enumeration. Parsing it
lets the tests check element names, order, cardinality and enumeration values exactly as
Salesforce defines them, without an org.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

NS = "http://soap.sforce.com/2006/04/metadata"

_TYPE_RE = re.compile(r"^export type (\w+) = (Metadata & )?\{\n(.*?)^\};", re.M | re.S)
_ENUM_RE = re.compile(r"^export type (\w+) = ((?:'[^']*'(?: \| )?)+);", re.M)
_ALIAS_RE = re.compile(r"^export type (\w+) = (\w+);", re.M)
_PROP_RE = re.compile(r"^\s+(\w+)(\?)?: ([\w]+)(\[\])?;$")
_PRIMITIVES = {"string", "boolean", "number", "Date", "any"}


@dataclass(frozen=True)
class Prop:
    name: str
    type: str
    optional: bool
    repeated: bool


class MetadataSchema:
    """Metadata API types and enumerations parsed from `@salesforce/types/lib/metadata.d.ts`."""

    def __init__(self, d_ts: Path) -> None:
        text = d_ts.read_text(encoding="utf-8")
        self.types: dict[str, list[Prop]] = {}
        for name, base, body in _TYPE_RE.findall(text):
            props = [Prop("fullName", "string", True, False)] if base else []
            for line in body.splitlines():
                match = _PROP_RE.match(line)
                if not match:
                    raise ValueError(f"{d_ts}: unexpected property line in {name}: {line!r}")
                prop, optional, prop_type, array = match.groups()
                props.append(Prop(prop, prop_type, bool(optional), bool(array)))
            self.types[name] = props
        self.enums: dict[str, frozenset[str]] = {
            name: frozenset(re.findall(r"'([^']*)'", values))
            for name, values in _ENUM_RE.findall(text)
        }
        self.aliases: dict[str, str] = dict(_ALIAS_RE.findall(text))

    def resolve(self, type_name: str) -> str:
        while type_name in self.aliases:
            type_name = self.aliases[type_name]
        return type_name

    def validate_file(self, path: Path) -> list[str]:
        """Problems with one metadata file: its root element names its type."""
        root = ET.parse(path).getroot()  # noqa: S314 (the repository's own files)
        tag = _local(root.tag)
        if not root.tag.startswith(f"{{{NS}}}"):
            return [f"{path}: root <{tag}> is not in the namespace {NS}"]
        if self.resolve(tag) not in self.types:
            return [f"{path}: <{tag}> is not a Metadata API type"]
        problems: list[str] = []
        self._validate(root, tag, f"{path}:{tag}", problems)
        return problems

    def _validate(self, element: ET.Element, type_name: str, where: str, out: list[str]) -> None:
        resolved = self.resolve(type_name)
        if resolved in self.enums:
            value = (element.text or "").strip()
            if value not in self.enums[resolved]:
                allowed = ", ".join(sorted(self.enums[resolved]))
                out.append(f"{where}: {value!r} is not a {type_name} ({allowed})")
            return
        if resolved in _PRIMITIVES or resolved not in self.types:
            if len(element):
                out.append(f"{where}: a {type_name} value cannot have child elements")
            else:
                _check_primitive(element.text, resolved, where, out)
            return

        props = {prop.name: prop for prop in self.types[resolved]}
        order = [prop.name for prop in self.types[resolved]]
        seen: list[str] = []
        for child in element:
            name = _local(child.tag)
            if name not in props:
                out.append(f"{where}: <{name}> is not an element of {type_name}")
                continue
            if seen and name != seen[-1] and name in seen:
                out.append(f"{where}: <{name}> repeated after other elements")
            if seen and order.index(name) < order.index(seen[-1]):
                out.append(f"{where}: <{name}> must come before <{seen[-1]}> ({type_name} order)")
            if name in seen and not props[name].repeated:
                out.append(f"{where}: <{name}> may appear only once in {type_name}")
            seen.append(name)
            self._validate(child, props[name].type, f"{where}/{name}", out)
        for prop in self.types[resolved]:
            if not prop.optional and not prop.repeated and prop.name not in seen:
                out.append(f"{where}: required <{prop.name}> missing from {type_name}")


def _check_primitive(text: str | None, kind: str, where: str, out: list[str]) -> None:
    value = (text or "").strip()
    if kind == "boolean" and value not in {"true", "false"}:
        out.append(f"{where}: {value!r} is not a boolean")
    elif kind == "number":
        try:
            float(value)
        except ValueError:
            out.append(f"{where}: {value!r} is not a number")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
