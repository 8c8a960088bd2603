"""Bytes to documents: what a collector writes, whatever its suffix says.

The OpenTelemetry collector's file exporter writes one export request per line as JSON; with
``format: proto``, or with ``compression: zstd``, it writes each request as a 4-byte big-endian length
followed by the (compressed) request. A whole file may also be gzip- or zstd-compressed (rotated logs,
``zstd file.jsonl``). So compression is recognised by its magic bytes, not by the file name, and framing by
the lengths adding up to the file's size. Binary OTLP is read with the ``opentelemetry-proto`` package and
handed on as the same dictionaries that OTLP JSON gives.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

from faultwise.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
FRAME_HEADER_BYTES = 4
#: OTLP payload kinds a binary message can be, in the order they are tried.
PROTO_KINDS = ("traces", "logs", "metrics")
_TOP_KEYS = {"traces": "resourceSpans", "logs": "resourceLogs", "metrics": "resourceMetrics"}


def compression_of(head: bytes) -> str | None:
    """``"gzip"``, ``"zstd"`` or None, from a file's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def decompress(data: bytes, source: str | Path, *, limit: int | None = None) -> bytes:
    """``data`` decompressed when it starts with a gzip or zstd magic (every frame of it), else as is.

    ``limit`` stops after about that many output bytes (for sniffing a file's head); a stream cut short is
    then no error."""
    kind = compression_of(data)
    if kind is None:
        return data
    import zstandard

    try:
        if kind == "gzip":
            if limit is not None:  # the head of a stream: a cut end is no error
                return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, limit)
            return gzip.decompress(data)
        if limit is not None:
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)[:limit]
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        return reader.read()
    except (OSError, EOFError, zlib.error, ValueError, zstandard.ZstdError) as exc:
        raise InputError(source, f"cannot read: not valid {kind} data ({exc})") from None


def looks_like_text(data: bytes) -> bool:
    """Text (JSON, CSV) rather than binary: no NUL byte in the head, and it decodes as UTF-8."""
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # a multi-byte character cut at the end of the head
    return True


@dataclass(frozen=True)
class Frames:
    """Length-prefixed records: the complete ones, and whether a partial record was left at the end."""

    records: list[bytes]
    partial_tail: bool


def split_frames(data: bytes) -> Frames | None:
    """``data`` as 4-byte big-endian length-prefixed records, or None when it is not such a file.

    The lengths must chain to the end of the data; a last record cut short (a file still being written) is
    reported as ``partial_tail`` when at least one record before it was complete."""
    records: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + FRAME_HEADER_BYTES > n:
            return Frames(records, True) if records else None
        size = int.from_bytes(data[pos : pos + FRAME_HEADER_BYTES], "big")
        if size == 0:
            return None
        end = pos + FRAME_HEADER_BYTES + size
        if end > n:
            return Frames(records, True) if records else None
        records.append(data[pos + FRAME_HEADER_BYTES : end])
        pos = end
    return Frames(records, False) if records else None


def read_file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def read_head_bytes(path: Path, n_bytes: int = 65536) -> bytes:
    """The first ``n_bytes`` of the content, decompressed: of the whole file, or of its first record when
    the file is length-prefixed records (the collector's proto or compressed output)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(n_bytes)
            if compression_of(raw) is None and not looks_like_text(raw) and len(raw) >= FRAME_HEADER_BYTES:
                size = int.from_bytes(raw[:FRAME_HEADER_BYTES], "big")
                if 0 < size <= path.stat().st_size - FRAME_HEADER_BYTES:
                    fh.seek(FRAME_HEADER_BYTES)
                    return decompress(fh.read(size), path, limit=None)[:n_bytes]
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    return decompress(raw, path, limit=n_bytes)


def read_chunks(path: Path) -> tuple[list[bytes], bool]:
    """The file's content as decoded chunks (one for a plain or wholly compressed file, one per record for
    length-prefixed records), and whether a partial last record was dropped."""
    data = decompress(read_file_bytes(path), path)
    if looks_like_text(data):
        return [data], False
    frames = split_frames(data)
    if frames is None:
        return [data], False
    return [decompress(r, path) for r in frames.records], frames.partial_tail


# --- binary OTLP -------------------------------------------------------------------------------------------


def _proto_classes() -> dict[str, type]:
    try:
        from opentelemetry.proto.logs.v1 import logs_pb2
        from opentelemetry.proto.metrics.v1 import metrics_pb2
        from opentelemetry.proto.trace.v1 import trace_pb2
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError(
            "opentelemetry-proto", "binary OTLP needs the opentelemetry-proto package (pip install it)"
        ) from None
    return {"traces": trace_pb2.TracesData, "logs": logs_pb2.LogsData, "metrics": metrics_pb2.MetricsData}


def _plausible(kind: str, msg: object) -> bool:
    """Whether a message parsed as ``kind`` has that kind's content (ids of the right size, times, names):
    the three request types share field numbers, so parsing alone does not tell them apart."""
    if kind == "traces":
        spans = [sp for rs in msg.resource_spans for ss in rs.scope_spans for sp in ss.spans]  # type: ignore[attr-defined]
        return bool(spans) and all(len(sp.trace_id) == 16 and len(sp.span_id) == 8 for sp in spans)
    if kind == "logs":
        recs = [r for rl in msg.resource_logs for sl in rl.scope_logs for r in sl.log_records]  # type: ignore[attr-defined]
        return bool(recs) and all(
            r.time_unix_nano or r.observed_time_unix_nano or r.HasField("body") for r in recs
        )
    metrics = [m for rm in msg.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]  # type: ignore[attr-defined]
    return bool(metrics) and all(m.name and m.WhichOneof("data") for m in metrics)


def classify_proto(data: bytes) -> tuple[str, object] | None:
    """(kind, message) of one binary OTLP request (traces, logs or metrics), or None when it is none of
    them: the kind whose parse leaves no unknown field and whose content is plausible."""
    from google.protobuf.message import DecodeError

    for kind, cls in _proto_classes().items():
        msg = cls()
        try:
            msg.ParseFromString(data)
        except (DecodeError, ValueError, RuntimeError):
            continue
        full = msg.ByteSize()
        msg.DiscardUnknownFields()
        if msg.ByteSize() == full and _plausible(kind, msg):
            return kind, msg
    return None


def proto_documents(chunk: bytes, source: str | Path, index: int) -> dict:
    """One binary OTLP request as the dictionary its OTLP JSON form would be (enums as numbers)."""
    from google.protobuf import json_format

    found = classify_proto(chunk)
    if found is None:
        where = f"record {index + 1}" if index else "the content"
        raise InputError(
            source, f"binary data that is not OTLP protobuf ({where} is no traces, logs or metrics)"
        )
    _, msg = found
    return json_format.MessageToDict(msg, use_integers_for_enums=True)  # type: ignore[arg-type]


def proto_kind(chunk: bytes) -> str | None:
    """``resourceSpans`` / ``resourceLogs`` / ``resourceMetrics`` of a binary OTLP request, or None."""
    found = classify_proto(chunk)
    return _TOP_KEYS[found[0]] if found else None


__all__ = [
    "FRAME_HEADER_BYTES",
    "Frames",
    "GZIP_MAGIC",
    "PROTO_KINDS",
    "ZSTD_MAGIC",
    "classify_proto",
    "compression_of",
    "decompress",
    "looks_like_text",
    "proto_documents",
    "proto_kind",
    "read_chunks",
    "read_file_bytes",
    "read_head_bytes",
    "split_frames",
]
