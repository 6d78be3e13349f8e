"""The Serverless Framework's variables in a ``serverless.yml``: ``${self:path}``, ``${opt:stage}``,
``${opt:region}``, ``${env:NAME}``, ``${sls:stage}``, ``${aws:region}``, ``${aws:accountId}``, each
with ``, fallback`` alternatives, nested, resolved on demand with cycles refused; sources Lamina has
no access to (``file``, ``ssm``, ``cf``, ``s3``, …) are refused with the line. ``${AWS::Region}``-style
text is left alone for ``Fn::Sub``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lamina.deploy.cfnyaml import Document, Locator, NodePath
from lamina.deploy.intrinsics import text

UNSUPPORTED_SOURCES = frozenset({"file", "ssm", "cf", "s3", "param", "strToBool", "sls:instanceId"})


class _Missing:
    pass


_MISSING = _Missing()


class Variables:
    """The Framework's variables over the raw document, resolved on demand, cycles refused."""

    def __init__(self, document: Document, *, options: Mapping[str, str], environ: Mapping[str, str],
                 region: str, account_id: str) -> None:
        self._data = document.data
        self._where = document.locator
        self._options = options
        self._environ = environ
        self._account_id = account_id
        self._default_region = region
        self._active: list[str] = []
        declared = self._data.get("provider")
        provider: dict[str, Any] = declared if isinstance(declared, dict) else {}
        self.stage = ""
        self.region = ""
        self.stage = options.get("stage") or text(self.resolve(provider.get("stage") or "dev", ("provider", "stage")))
        self.region = options.get("region") or text(self.resolve(provider.get("region") or region,
                                                                 ("provider", "region")))

    def resolve(self, node: Any, path: NodePath) -> Any:
        if isinstance(node, dict):
            return {key: self.resolve(item, (*path, key)) for key, item in node.items()}
        if isinstance(node, list):
            return [self.resolve(item, (*path, index)) for index, item in enumerate(node)]
        if isinstance(node, str) and "${" in node:
            return self._string(node, path)
        return node

    def _string(self, value: str, path: NodePath) -> Any:
        pieces: list[Any] = []
        position = 0
        while (start := value.find("${", position)) >= 0:
            end = _closing_brace(value, start + 2)
            if end < 0:
                raise self._where.error(f'unclosed variable in "{value}"', path)
            pieces.append(value[position:start])
            inner = value[start + 2:end]
            if "${" in inner:
                inner = text(self._string(inner, path))
            pieces.append(self._variable(inner, value[start:end + 1], path))
            position = end + 1
        pieces.append(value[position:])
        kept = [piece for piece in pieces if piece != ""]
        if len(kept) == 1 and not isinstance(kept[0], str):
            return kept[0]
        return "".join(piece if isinstance(piece, str) else _text(piece, self._where, path) for piece in kept)

    def _variable(self, inner: str, written: str, path: NodePath) -> Any:
        alternatives = _split_alternatives(inner)
        first = alternatives[0]
        if re.match(r"[A-Za-z]+::", first) or not re.match(r"[A-Za-z]+[:(]", first):
            return written  # ${AWS::Region}, ${Param}: Fn::Sub's business, not the Framework's
        for alternative in alternatives:
            found = self._alternative(alternative, path)
            if found is not _MISSING:
                return found
        if first in ("opt:stage", "sls:stage"):
            return self.stage or "dev"
        if first in ("opt:region", "aws:region"):
            return self.region or self._default_region
        raise self._where.error(f"cannot resolve variable {written}: no value and no fallback", path)

    def _alternative(self, alternative: str, path: NodePath) -> Any:
        literal = re.fullmatch(r"'(.*)'|\"(.*)\"", alternative, re.S)
        if literal:
            return literal.group(1) if literal.group(1) is not None else literal.group(2)
        if re.fullmatch(r"-?\d+(\.\d+)?", alternative):
            return float(alternative) if "." in alternative else int(alternative)
        if alternative in ("true", "false"):
            return alternative == "true"
        if alternative == "null":
            return _MISSING
        source, colon, address = alternative.partition(":")
        if not colon or source not in ("self", "opt", "env", "sls", "aws"):
            unsupported = source.split("(")[0]
            if unsupported in UNSUPPORTED_SOURCES or f"{source}:{address}" in UNSUPPORTED_SOURCES:
                raise self._where.error(f"${{{unsupported}:…}} variables are not supported by Lamina", path)
            raise self._where.error(f'unknown variable source "{unsupported}" in ${{{alternative}}}', path)
        return self._lookup(source, address.strip(), path)

    def _lookup(self, source: str, address: str, path: NodePath) -> Any:
        if source == "self":
            return self._self(address, path)
        if source == "env":
            return self._environ.get(address, _MISSING)
        if source == "opt":
            return self._options.get(address, _MISSING)
        known = {"sls:stage": self.stage or _MISSING, "aws:region": self.region or _MISSING,
                 "aws:accountId": self._account_id}.get(f"{source}:{address}")
        if known is None:
            raise self._where.error(f"${{{source}:{address}}} is not supported by Lamina", path)
        return known

    def _self(self, address: str, path: NodePath) -> Any:
        if address in self._active:
            raise self._where.error(f"${{self:{address}}} refers to itself", path)
        found: Any = self._data
        where: list[str | int] = []
        for key in address.split(".") if address else []:
            if isinstance(found, dict) and key in found:
                found = found[key]
                where.append(key)
            elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
                found = found[int(key)]
                where.append(int(key))
            else:
                return _MISSING
        self._active.append(address)
        try:
            return self.resolve(found, tuple(where))
        finally:
            self._active.pop()


def _closing_brace(value: str, start: int) -> int:
    depth = 1
    for index in range(start, len(value)):
        if value[index] == "{":
            depth += 1
        elif value[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _split_alternatives(inner: str) -> list[str]:
    parts, current, quote = [], "", ""
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return parts


def _text(value: Any, where: Locator, path: NodePath) -> str:
    if isinstance(value, dict | list):
        raise where.error("a variable inside a longer string must be a string or a number, not a "
                          f"{type(value).__name__}", path)
    return text(value)
