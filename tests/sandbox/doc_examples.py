"""The curl examples of crm-api.md, with the response each one documents."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

PRODUCTION_BASE = "https://txpaxbxhnvnhsjwwaeoy.supabase.co/functions/v1"
_HEADING = re.compile(r"^(\d+(?:\.\d+)+) \S")
_RESPONSE = re.compile(r"^Response (\d{3})\b")


@dataclass(frozen=True)
class Example:
    section: str  # e.g. "2.1.1"
    argv: list[str]
    documented_status: int | None
    documented_body: Any  # None when the document shows no JSON

    @property
    def method(self) -> str:
        if "-X" in self.argv:
            return self.argv[self.argv.index("-X") + 1]
        return "GET" if "-G" in self.argv else "POST"

    @property
    def url(self) -> str:
        return next(a for a in self.argv if a.startswith(("https://", "...")))

    @property
    def path(self) -> str:
        rest = self.url.removeprefix(PRODUCTION_BASE).removeprefix("...")
        return rest.split("?", 1)[0]

    @property
    def moves_body_into_url(self) -> bool:
        """`-G` with raw `--data`: curl appends the JSON body to the query string."""
        return "-G" in self.argv and any(a in ("--data", "-d") for a in self.argv)

    def data(self, flag: str) -> list[str]:
        return [self.argv[i + 1] for i, a in enumerate(self.argv) if a == flag]

    @property
    def selected(self) -> list[str] | None:
        for item in self.data("--data-urlencode"):
            if item.startswith("select="):
                return item.removeprefix("select=").split(",")
        return None

    @property
    def wants_representation(self) -> bool:
        return "Prefer: return=representation" in self.data("-H")

    def __str__(self) -> str:
        return f"{self.section} {self.method} {self.path}"


def _quotes_open(text: str) -> bool:
    return text.count("'") % 2 == 1


def _json_block(lines: list[str], start: int) -> Any:
    collected: list[str] = []
    for line in lines[start:]:
        if not collected and not line.strip():
            continue
        if not collected and not line.lstrip().startswith(("{", "[")):
            return None
        collected.append(line)
        try:
            return json.loads("\n".join(collected))
        except json.JSONDecodeError:
            continue
    return None


def extract(text: str) -> list[Example]:
    lines = text.splitlines()
    examples: list[Example] = []
    section = ""
    i = 0
    while i < len(lines):
        heading = _HEADING.match(lines[i])
        if heading:
            section = heading.group(1)
        if not lines[i].startswith("curl "):
            i += 1
            continue
        command = [lines[i]]
        while (command[-1].endswith("\\") or _quotes_open("\n".join(command))) and i + 1 < len(
            lines
        ):
            i += 1
            command.append(lines[i])
        i += 1
        status, body = None, None
        j = i
        while j < len(lines) and not lines[j].startswith("curl ") and not _HEADING.match(lines[j]):
            response = _RESPONSE.match(lines[j])
            if response:
                status = int(response.group(1))
                body = _json_block(lines, j + 1)
                break
            j += 1
        argv = shlex.split("\n".join(command).replace("\\\n", " "))
        examples.append(Example(section, argv, status, body))
    return examples
