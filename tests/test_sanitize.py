"""Run every nbval sanitize rule over the committed outputs and list what each one replaces.

nbval applies the rules in tests/sanitize.cfg, in order, to both the saved and the fresh
output before comparing them: whatever a rule replaces is no longer checked. A rule that
reaches too far silently turns an exact check into a loose one (an old [urlsafe-token]
rewrote the RFC's sample key and even ``Sec-WebSocket-Extensions``). These tests show
each rule's replacements (``pytest -rP`` prints the list) and fail on known over-reach.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "sanitize.cfg"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# Texts that a notebook shows on purpose and nbval must compare exactly: the RFC's sample
# key and its accept value (notebooks 01 and 02 compute them), and header names.
EXACT = [
    "dGhlIHNhbXBsZSBub25jZQ==",
    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Key",
    "permessage-deflate",
]


def rules() -> list[tuple[str, str, str]]:
    """Return (section, regex, replacement) for each rule, in the order nbval applies them."""
    found: list[tuple[str, str, str]] = []
    section = "?"
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if heading := re.fullmatch(r"\[(.+)\]", line):
            section = heading[1]
        elif line.startswith("regex: "):
            assert lines[number + 1].startswith("replace: "), f"rule {section} has no replace"
            found.append((section, line.removeprefix("regex: "), lines[number + 1][9:]))
    return found


def output_texts(path: Path) -> list[str]:
    """Return every text nbval sanitizes in a notebook's saved outputs."""
    texts: list[str] = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                texts.append(output["text"])
            for key, value in output.get("data", {}).items():
                if isinstance(value, str) and not key.startswith("image/"):
                    texts.append(value)
    return texts


def replacements() -> dict[str, list[tuple[str, str, str]]]:
    """Return, by rule, (notebook, text, what it became) for each replacement it makes.

    The rules run in order over each text, each on the result of the one before, as nbval
    applies them.
    """
    replaced: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for path in NOTEBOOKS:
        for text in output_texts(path):
            for section, regex, replace in rules():
                for match in re.finditer(regex, text):
                    replaced[section].append((path.name, match[0], match.expand(replace)))
                text = re.sub(regex, replace, text)
    return replaced


def listing(replaced: dict[str, list[tuple[str, str, str]]]) -> str:
    """Return the replacements as lines: rule, notebook, the text and what it became."""
    return "\n".join(
        f"[{section}] {name}: {text!r} -> {new!r}"
        for section, found in replaced.items()
        for name, text, new in sorted(set(found))
    )


def test_every_rule_is_a_valid_regex_with_a_name() -> None:
    """Each rule compiles and sits under a [section] name, which the listing shows."""
    assert rules()
    for section, regex, _ in rules():
        assert section != "?"
        re.compile(regex)


def test_the_listing_of_what_each_rule_replaced() -> None:
    """Print what each rule replaces in the committed outputs (pytest -rP or -s shows it)."""
    replaced = replacements()
    print(listing(replaced))
    assert any(replaced.values())


@pytest.mark.parametrize("exact", EXACT)
def test_no_rule_touches_a_text_the_notebooks_show_on_purpose(exact: str) -> None:
    """The RFC's sample key and accept value and the header names are never rewritten."""
    over_reach = [
        f"[{section}] {name}: {text!r} -> {new!r}"
        for section, found in replacements().items()
        for name, text, new in found
        if text.count(exact) > new.count(exact)
    ]
    assert over_reach == [], "\n".join(over_reach)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("ws://127.0.0.1:PORT/?token=Q2x1ZV9zb21lX3Rva2Vu_x-9", "ws://127.0.0.1:PORT/?token=TOKEN"),
        ('{"resume_token": "aB3dE5fG7hJ9kL1mN3pQ5r"}', '{"resume_token": "TOKEN"}'),
        ("Sec-WebSocket-Extensions: permessage-deflate", None),
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", None),
    ],
)
def test_the_token_rule_takes_named_tokens_only(sample: str, expected: str | None) -> None:
    """[urlsafe-token] rewrites a value after a token's name, and nothing that is not one."""
    _, regex, replace = next(rule for rule in rules() if rule[0] == "urlsafe-token")
    assert re.sub(regex, replace, sample) == (sample if expected is None else expected)
