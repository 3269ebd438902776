"""CloudFormation as YAML, as people write it: PyYAML's own output quotes every tagged scalar and writes intrinsics
in their long form, which reads nothing like a hand-written template."""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Tagged:
    """An intrinsic function written in CloudFormation's short form (!Ref, !Sub, ...)."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


def _short_form(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref" or name.startswith("Fn::"):
                tag = "!" + name.removeprefix("Fn::")
                if name == "Fn::GetAtt" and isinstance(argument, list):
                    return _Tagged(tag, ".".join(argument))
                return _Tagged(tag, _short_form(argument))
        return {key: _short_form(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_short_form(item) for item in value]
    return value


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # lists indented under their key, as people write them

    def choose_scalar_style(self) -> str:
        # PyYAML quotes every scalar with a tag of its own; !Ref Name reads as people write it
        if self.analysis is None:
            self.analysis = self.analyze_scalar(self.event.value)
        plain = self.analysis.allow_flow_plain if self.flow_level else self.analysis.allow_block_plain
        if (self.event.tag or "").startswith("!") and not self.event.style and plain and not self.analysis.multiline:
            return ""
        return super().choose_scalar_style()


def _represent_tagged(dumper: _Dumper, tagged: _Tagged) -> yaml.Node:
    if isinstance(tagged.value, list):
        return dumper.represent_sequence(tagged.tag, tagged.value, flow_style=True)
    if isinstance(tagged.value, dict):
        return dumper.represent_mapping(tagged.tag, tagged.value)
    return dumper.represent_scalar(tagged.tag, tagged.value, style="|" if "\n" in tagged.value else None)


def _represent_text(dumper: _Dumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(_Tagged, _represent_tagged)
_Dumper.add_representer(str, _represent_text)


def dump(template: dict[str, Any]) -> str:
    """The template as YAML written as people write CloudFormation: intrinsics in their short form (!Ref, !Sub...),
    lists indented under their key, multi-line text as blocks, a blank line between resources."""
    sections = []
    for key, value in template.items():
        text = yaml.dump({key: _short_form(value)}, Dumper=_Dumper, sort_keys=False, width=10_000)
        if key == "Resources":  # a blank line between resources
            text = re.sub(r"\n(?=  [A-Za-z0-9]+:\n)", "\n\n", text).replace(":\n\n", ":\n", 1)
        sections.append(text)
    return "\n".join(sections)
