"""Reading input files safely: regular files only, bounded in size, decoded with a clear error.

Why one module: every command reads user files (patients, rule files, CT.gov JSON, criteria text), and
each of these once hung on a FIFO, ate memory on ``/dev/zero`` or a gzip bomb, died with a traceback on
a non-UTF-8 byte, a 10^5-deep JSON array, a 5,000-digit integer or a YAML alias bomb. Here each of
those becomes an :class:`~eligibility.errors.InputError` naming the file.

The size limit (default 256 MB, after decompression) is raised with the environment variable
``ELIGIBILITY_MAX_INPUT_BYTES`` .
"""

from __future__ import annotations

import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError

LIMIT_ENV = "ELIGIBILITY_MAX_INPUT_BYTES"
DEFAULT_LIMIT = 256 * 1024 * 1024


def input_limit() -> int:
    """The largest input file read, in bytes (the environment variable, else the default)."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{LIMIT_ENV} must be a whole number of bytes, not '{raw}'") from None
    if value <= 0:
        raise InputError(f"{LIMIT_ENV} must be a positive number of bytes, not '{raw}'")
    return value


def _too_big(size_text: str, limit: int) -> str:
    return f"{size_text} is larger than the input limit of {limit:,} bytes (raise it with {LIMIT_ENV})"


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file (``.gz`` decompressed), refusing FIFOs, devices and oversize files.

    The file is opened non-blocking so that opening a FIFO with no writer does not hang, and checked
    with ``fstat`` on the open descriptor (no race with a rename in between).
    """
    p = Path(path)
    limit = input_limit()
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError("no such file", str(p)) from None
    except IsADirectoryError:
        raise InputError("a folder, not a file", str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(p)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError("a folder, not a file", str(p))
        if not stat.S_ISREG(info.st_mode):
            raise InputError("not a regular file (a pipe, socket or device): only regular files are read", str(p))
        if info.st_size > limit:
            raise InputError(_too_big(f"the file ({info.st_size:,} bytes)", limit), str(p))
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(p)) from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > limit:
        raise InputError(_too_big("the file", limit), str(p))
    if p.suffix.lower() == ".gz":
        raw = _gunzip(raw, limit, str(p))
    return raw


def _gunzip(raw: bytes, limit: int, where: str) -> bytes:
    """Decompress at most ``limit`` bytes: a gzip bomb is refused, not expanded."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InputError(f"not a readable gzip file ({exc})", where) from None
    if len(out) > limit:
        raise InputError(_too_big("the decompressed content", limit), where)
    if not inflater.eof:
        raise InputError("truncated gzip file (the compressed data ends early)", where)
    return out


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The file as text; a byte that is not ``encoding`` is an error naming its offset."""
    raw = read_bytes(path)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise InputError(f"not {encoding.upper()} text (byte 0x{bad} at offset {exc.start})", str(path)) from None


def _no_lone_surrogates(data: Any, where: str) -> None:
    r"""JSON may escape half a character ("\ud800"); such a string cannot be printed or written back."""
    try:
        json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        raise InputError(f"not valid Unicode: a lone surrogate escape ({bad})", where) from None


def _value_problem(exc: ValueError) -> str:
    if "integer string conversion" in str(exc):  # int() refuses more than 4,300 digits
        return "a number with more than 4,300 digits"
    return str(exc)


def _twice(kind: str, key: object) -> str:
    return f"the key '{key}' appears twice in one {kind} (which value is meant cannot be told): keep one"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: ``{"id": "a", "id": "b"}`` silently kept the last."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(_twice("object", key))
            seen.add(key)
    return out


def parse_json(text: str, where: str) -> Any:
    """JSON text -> data; syntax, depth, huge integers, lone surrogates and a key given twice in one
    object are errors naming ``where``."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except InputError as exc:
        raise InputError(exc.message, where) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", where) from None
    except RecursionError:
        raise InputError("not readable JSON: nested too deeply", where) from None
    except ValueError as exc:
        raise InputError(f"not readable JSON: {_value_problem(exc)}", where) from None
    _no_lone_surrogates(data, where)
    return data


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors/aliases: a 461-byte alias bomb expanded to 2.7 GB."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = event.start_mark
            raise InputError(
                f"line {mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed in rule files; "
                "write the value out"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A key given twice in one mapping (a second ``trial:``) is an error, not the last one winning."""
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        mark = key_node.start_mark
                        raise InputError(f"line {mark.line + 1}: {_twice('mapping', key_node.value)}")
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> data (safe loader, no aliases); errors name ``where``."""
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except InputError as exc:
        raise InputError(exc.message, where) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", where) from None
    except RecursionError:
        raise InputError("not readable YAML: nested too deeply", where) from None
    except ValueError as exc:
        raise InputError(f"not readable YAML: {_value_problem(exc)}", where) from None
    _no_lone_surrogates(data, where)  # YAML escapes "\ud800" too
    return data
