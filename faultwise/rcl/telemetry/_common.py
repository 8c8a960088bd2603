"""Small shared pieces of the loaders: reading files safely, ids, kinds, statuses (levels: :mod:`levels`).

Every failure to read a user's file becomes one :class:`InputError` naming the file, here, so the format
modules stay about their format.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from faultwise.errors import InputError
from faultwise.rcl.telemetry.decode import (
    compression_of,
    looks_like_text,
    proto_documents,
    read_chunks,
    read_head_bytes,
)
from faultwise.rcl.telemetry.schema import service_of_pod

PathLike = str | Path

OTLP_KINDS = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_KIND_NAMES = {
    "": "",
    "unspecified": "",
    "internal": "internal",
    "server": "server",
    "client": "client",
    "producer": "producer",
    "consumer": "consumer",
}
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def as_paths(path: PathLike | list[PathLike] | tuple[PathLike, ...]) -> list[Path]:
    paths = [Path(p) for p in path] if isinstance(path, list | tuple) else [Path(path)]
    if not paths:
        raise InputError("(no input)", "no files given")
    return paths


def check_file(path: Path) -> None:
    """A missing or empty file is a one-line error, before any parser sees it."""
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, expected a file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")


def read_text(path: Path) -> str:
    """The file's text, decompressed whatever its suffix (gzip and zstd are recognised by magic bytes)."""
    check_file(path)
    chunks, _ = read_chunks(path)
    text = "\n".join(c.decode("utf-8-sig", errors="replace") for c in chunks)
    if not text.strip():
        raise InputError(path, "empty file")
    return text


def read_head(path: Path, n_bytes: int = 65536) -> str:
    """The first bytes of a file's content (decompressed; the first record of length-prefixed records), for
    sniffing. Binary content comes back as it is, decoded with replacement characters."""
    check_file(path)
    return read_head_bytes(path, n_bytes).decode("utf-8", errors="replace")


# --- warnings the loaders raise: collected for the diagnosis, logged otherwise ---------------------------

_NOTES: ContextVar[list[str] | None] = ContextVar("faultwise_loader_notes", default=None)


@contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Within the block, loader warnings go into the yielded list (the caller shows them) instead of the
    ``faultwise`` logger."""
    notes: list[str] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def warn(source: str | Path, message: str) -> None:
    """A loader's warning about ``source`` (something skipped or assumed): one line naming the file."""
    text = f"{source}: {message}"
    notes = _NOTES.get()
    if notes is None:
        logging.getLogger("faultwise").warning("%s", text)
    elif text not in notes:
        notes.append(text)


def _json_lines(text: str, path: Path, last_chunk: bool) -> Iterator[object]:
    lines = text.splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            cut_short = exc.pos >= len(line.rstrip()) or exc.msg.startswith("Unterminated string")
            if i == last and last_chunk and i > 0 and cut_short:
                warn(path, f"skipped a partial last line (line {i + 1}: {exc.msg}; still being written?)")
                return
            raise InputError(path, f"malformed JSON at line {i + 1}: {exc.msg}") from None


def _json_documents(text: str, path: Path, last_chunk: bool) -> Iterator[object]:
    """One pretty-printed JSON document, or JSON lines (one document per line, as the collector writes)."""
    try:
        yield json.loads(text)
        return
    except json.JSONDecodeError as exc:
        whole_error = exc
    if whole_error.msg != "Extra data":  # not several documents: one broken document
        raise InputError(path, f"malformed JSON: {whole_error.msg} at line {whole_error.lineno}")
    yield from _json_lines(text, path, last_chunk)


def iter_json_documents(path: Path) -> Iterator[object]:
    """Every document of a file: pretty-printed JSON, JSON lines, or length-prefixed records (JSON or binary
    OTLP, each possibly compressed), all as decoded JSON values. A partial last line or record (a file
    still being written) is skipped with a warning."""
    check_file(path)
    chunks, partial_tail = read_chunks(path)
    if partial_tail:
        warn(path, "skipped a partial last record (still being written?)")
    for i, chunk in enumerate(chunks):
        if looks_like_text(chunk):
            yield from _json_documents(
                chunk.decode("utf-8-sig", errors="replace"), path, i == len(chunks) - 1
            )
        else:
            yield proto_documents(chunk, path, i)


_MAX_BAD_LINES = 10
_MAX_BAD_SHARE = 0.01


def _read_csv_skipping_bad_lines(path: Path, **kwargs) -> pd.DataFrame:
    """Real exports hold the odd truncated line (e.g. a Nezha log line cut inside its quoted JSON): skip a
    few such lines with a warning, refuse a file where they are more than a few or half of the lines."""
    bad: list[list[str]] = []

    def skip(line: list[str]) -> None:
        bad.append(line)
        return None

    df = pd.read_csv(path, engine="python", on_bad_lines=skip, **kwargs)
    total = len(df) + len(bad)
    if len(bad) > max(_MAX_BAD_LINES, _MAX_BAD_SHARE * total) or 2 * len(bad) >= total:
        raise pd.errors.ParserError(f"{len(bad)} of {total} lines have the wrong number of fields")
    if bad:
        warn(path, f"skipped {len(bad)} malformed line(s)")
    return df


def _csv_compression(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return compression_of(fh.read(4))
    except OSError:
        return None  # pandas names the problem


def read_csv(path: Path, required: list[str], what: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with our errors: missing file, empty file, malformed CSV, missing columns."""
    check_file(path)
    if "compression" not in kwargs:  # gzip or zstd whatever the suffix says
        kwargs["compression"] = _csv_compression(path)
    try:
        try:
            df = pd.read_csv(path, **kwargs)
        except pd.errors.ParserError:
            df = _read_csv_skipping_bad_lines(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(path, "empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, zlib.error, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"malformed CSV: {first}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path, f"{what} CSV is missing column(s) {', '.join(missing)}")
    return df


def require_numeric(df: pd.DataFrame, col: str, path: Path, what: str) -> pd.Series:
    """Column ``col`` as numbers; a missing (NaN/empty) or non-numeric cell is an InputError naming the
    column and the CSV line."""
    num = pd.to_numeric(df[col], errors="coerce")
    bad = num.isna() | ~np.isfinite(num.fillna(0).astype("float64"))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raw = df[col].iloc[pos]
        missing = (
            raw is None
            or (isinstance(raw, float) and np.isnan(raw))
            or str(raw).strip().lower() in ("", "nan")
        )
        value = "a missing value" if missing else f"a non-numeric value {str(raw)!r}"
        raise InputError(path, f"{what} column {col} has {value} (line {pos + 2})")
    return num


def norm_id(value: object) -> str:
    """Trace/span ids as lower-case hex: OTLP JSON uses hex, older exporters base64 of the raw bytes."""
    if value is None:
        return ""
    return _norm_id_str(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=1 << 16)
def _norm_id_str(value: str) -> str:
    s = value.strip()
    if not s:
        return ""
    if _HEX.match(s) and len(s) in (16, 32):
        return s.lower()
    if len(s) in (12, 24) or s.endswith("="):
        try:
            raw = base64.b64decode(s, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) in (8, 16):
            if not any(raw):
                return ""  # all-zero parent id means "no parent"
            return raw.hex()
    if _HEX.match(s):
        return s.lower()
    return s


def norm_kind(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int):
        return _norm_kind_cached(value)
    return _norm_kind(value)


@lru_cache(maxsize=256)
def _norm_kind_cached(value: str | int) -> str:
    return _norm_kind(value)


def _norm_kind(value: object) -> str:
    if isinstance(value, int | np.integer):
        return OTLP_KINDS.get(int(value), "")
    s = str(value).strip().lower()
    if s.isdigit():
        return OTLP_KINDS.get(int(s), "")
    s = s.removeprefix("span_kind_")
    return _KIND_NAMES.get(s, "")


_OK_STATUSES = {"", "0", "OK", "UNSET", "STATUS_CODE_OK", "STATUS_CODE_UNSET", "NAN", "NONE", "FALSE"}
_ERROR_STATUSES = {"ERROR", "STATUS_CODE_ERROR", "ERR", "FAIL", "FAILED", "FAILURE", "TRUE"}


def status_is_error(status: pd.Series) -> pd.Series:
    """Vectorised error test over heterogeneous raw statuses.

    HTTP codes (100-599) are errors from 500; gRPC codes (1-16) are errors when non-zero; textual statuses
    by name. Anything unrecognised is not an error (we don't invent failures).
    """
    s = status.fillna("").astype(str).str.strip()
    up = s.str.upper()
    num = pd.to_numeric(s, errors="coerce")
    http_err = (num >= 500) & (num < 600)
    grpc_err = (num >= 1) & (num <= 16)
    named = up.isin(_ERROR_STATUSES)
    return (http_err | grpc_err | named).fillna(False).astype(bool)


def services_of_pods(pods: pd.Series) -> pd.Series:
    """``service_of_pod`` over a column, computed once per distinct pod."""
    uniq = pd.unique(pods)
    mapping = {p: service_of_pod(str(p)) for p in uniq}
    return pods.map(mapping)


def attrs_to_dict(attrs: object) -> dict[str, object]:
    """OTLP ``[{key, value: {stringValue|intValue|...}}]`` to a plain dict."""
    out: dict[str, object] = {}
    if not isinstance(attrs, list):
        return out
    for kv in attrs:
        if isinstance(kv, dict) and "key" in kv:
            out[str(kv["key"])] = any_value(kv.get("value"))
    return out


def any_value(v: object) -> object:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        return [any_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return attrs_to_dict((v["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def to_int(value: object, path: Path, what: str) -> int:
    """Integers that OTLP JSON may write as strings; a missing or bad value is an InputError."""
    try:
        if isinstance(value, float) and not np.isfinite(value):
            raise ValueError
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        try:
            f = float(value)  # type: ignore[arg-type]
            if not np.isfinite(f):
                raise ValueError from None
            return int(f)
        except (TypeError, ValueError):
            raise InputError(path, f"{what} is not a number: {value!r}") from None


def truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")
