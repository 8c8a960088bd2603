"""Log lines the simulated pods write: INFO per request, WARN noise, ERROR with stack traces on failures.

Normal traffic already carries warnings and rare errors (so "any warning" is no signal); a fault adds its
own kinds of lines, on the side of the system where a real one writes them (the failing pod, its callers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from faultwise.rcl.simulate.requests import CLIENT, SERVER
from faultwise.rcl.simulate.spans import FlatSpans, Names, hex_ids
from faultwise.rcl.simulate.traffic import BENIGN, ERRRET, EXC, OOM, PROPAGATED, REFUSED, TIMEOUT
from faultwise.rcl.telemetry.schema import LOG_COLUMNS, conform, empty_frame

_INFO = (
    "[{op}] handled request userId={a} items={b} elapsed={ms}ms",
    "{cls}ServiceImpl#{line}: query ok, rows={b}, cost={ms}ms",
    "processing {ent} id={a} status=OK",
    "{cls}Controller: {op} -> 200 ({ms} ms)",
    "cache lookup key={ent}:{a} hit={hit}",
)
_WARN_NOISE = (
    "HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta={a}ms).",
    "Retrying config refresh, attempt {b}",
    "Deprecated API {op} called by client-{a}",
    "Request header X-Forwarded-For missing, using remote address",
    "Cache miss ratio {b}0% above threshold for {ent}",
)
_EXCEPTIONS = (
    'java.lang.NullPointerException: Cannot invoke "{ent}.getId()" because "{var}" is null',
    "java.lang.IllegalStateException: {ent} in inconsistent state: expected ACTIVE",
    "java.lang.ArithmeticException: / by zero",
    "java.lang.IndexOutOfBoundsException: Index {b} out of bounds for length {b}",
)
_BENIGN = (
    "Deadlock found when trying to get lock; try restarting transaction",
    "Lock wait timeout exceeded; try restarting transaction",
)


def _cls(service: str) -> str:
    return "".join(w.capitalize() for w in service.removesuffix("-service").split("-"))


def _stack(service: str, op: str, line: int) -> str:
    cls = _cls(service)
    method = op.rsplit("/", 1)[-1].split(".")[-1]
    pkg = service.removesuffix("-service").replace("-", "")
    return (
        f"\n\tat com.example.{pkg}.service.{cls}ServiceImpl.{method}({cls}ServiceImpl.java:{line})"
        f"\n\tat com.example.{pkg}.controller.{cls}Controller.{method}({cls}Controller.java:{line // 3 + 20})"
        "\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)"
        "\n\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)"
    )


def _endpoint(callee: str, op: str) -> str:
    if op.startswith("mysql."):
        return f"jdbc:mysql://{callee}:3306/app"
    if op.startswith("redis."):
        return f"redis://{callee}:6379"
    return f"http://{callee}:8080{op.split(' ', 1)[-1]}"


class _Rows:
    def __init__(self) -> None:
        self.ts: list[np.ndarray] = []
        self.pod: list[np.ndarray] = []
        self.level: list[np.ndarray] = []
        self.msg: list[str] = []
        self.trace: list[np.ndarray] = []
        self.span: list[np.ndarray] = []

    def add(self, ts, pod, level: str, msgs: list[str], trace, span) -> None:
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.pod.append(np.asarray(pod, dtype=np.int64))
        self.level.append(np.full(len(msgs), level, dtype=object))
        self.msg.extend(msgs)
        self.trace.append(np.asarray(trace, dtype=np.int64))
        self.span.append(np.asarray(span, dtype=np.int64))


def log_table(
    flat: FlatSpans,
    trace_ids: np.ndarray,
    names: Names,
    op_median_us: np.ndarray,
    rng: np.random.Generator,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Log lines of one window. ``extra`` holds lines not tied to a span (restarts), in LOG_COLUMNS."""
    rows = _Rows()
    n = len(flat)
    u = rng.random(n)
    srv = (flat.kind == SERVER) & (flat.pod >= 0)
    svc_names, op_names = names.services, names.ops
    end = flat.start_us + flat.dur_us
    exc_kind = int(rng.integers(len(_EXCEPTIONS)))

    def pick(mask: np.ndarray) -> np.ndarray:
        return np.nonzero(mask)[0]

    # INFO per request (the db-like leaves log little)
    leaf = names.leaf_services[flat.service]
    ix = pick(srv & (u < np.where(leaf, 0.03, 0.55)) & ~flat.err)
    a = rng.integers(1000, 99999, len(ix))
    b = rng.integers(1, 9, len(ix))
    msgs = []
    for i, av, bv in zip(ix.tolist(), a.tolist(), b.tolist(), strict=True):
        op = int(flat.op[i])
        svc = svc_names[flat.service[i]]
        msgs.append(
            _INFO[op % len(_INFO)].format(
                op=op_names[op], a=av, b=bv, ms=int(flat.dur_us[i] // 1000), cls=_cls(svc),
                line=100 + op % 400, ent=svc.removesuffix("-service"), hit=str(av % 3 != 0).lower(),
            )
        )  # fmt: skip
    rows.add(flat.start_us[ix] + (flat.dur_us[ix] * 0.9).astype(np.int64), flat.pod[ix], "INFO", msgs,
             flat.trace[ix], flat.span_id[ix])  # fmt: skip

    # WARN noise in every window, and slow-request warnings wherever own processing is far off its norm
    v = rng.random(n)
    ix = pick(srv & ~leaf & (v < 0.012))
    msgs = [
        _WARN_NOISE[(i * 7 + int(flat.op[i])) % len(_WARN_NOISE)].format(
            a=int(flat.span_id[i] % 900 + 100), b=int(flat.span_id[i] % 5 + 1), op=op_names[flat.op[i]],
            ent=svc_names[flat.service[i]].removesuffix("-service"),
        )
        for i in ix.tolist()
    ]  # fmt: skip
    rows.add(flat.start_us[ix], flat.pod[ix], "WARN", msgs, flat.trace[ix], flat.span_id[ix])
    slow = srv & ~leaf & (flat.self_us > 6.0 * op_median_us[flat.op]) & (v > 0.4)
    ix = pick(slow)
    msgs = [f"Slow request {op_names[flat.op[i]]} took {int(flat.dur_us[i] // 1000)} ms" for i in ix.tolist()]
    rows.add(end[ix], flat.pod[ix], "WARN", msgs, flat.trace[ix], flat.span_id[ix])
    ix = pick(flat.gc & (v < 0.5))
    msgs = [
        f"[GC (Allocation Failure) pause {int(flat.self_us[i] // 2000)}ms] heap {900 + i % 97}M->{850 + i % 53}M(1024M)"
        for i in ix.tolist()
    ]
    rows.add(flat.start_us[ix], flat.pod[ix], "WARN", msgs, flat.trace[ix], flat.span_id[ix])

    # own failures of a server span
    w = rng.random(n)
    for origin, prob, level in (
        (EXC, 1.0, "ERROR"),
        (OOM, 1.0, "ERROR"),
        (ERRRET, 0.15, "WARN"),
        (BENIGN, 0.8, "ERROR"),
    ):
        ix = pick(srv & (flat.origin == origin) & (w < prob))
        msgs = []
        for i in ix.tolist():
            svc, op = svc_names[flat.service[i]], op_names[flat.op[i]]
            line = 100 + int(flat.op[i]) * 7 % 300
            if origin == EXC:
                head = _EXCEPTIONS[exc_kind].format(ent=_cls(svc), var="entity", b=3)
                msgs.append(f"Servlet.service() for [{op}] threw exception {head}{_stack(svc, op, line)}")
            elif origin == OOM:
                msgs.append(f"java.lang.OutOfMemoryError: Java heap space{_stack(svc, op, line)}")
            elif origin == ERRRET:
                msgs.append(f'{op} rejected: status=400 reason="{_cls(svc)} validation failed"')
            else:
                msgs.append(f"SQL error in {op}: {_BENIGN[i % len(_BENIGN)]}")
        rows.add(end[ix], flat.pod[ix], level, msgs, flat.trace[ix], flat.span_id[ix])
    ix = pick(srv & flat.fallback)
    msgs = [
        f"Downstream call failed in {op_names[flat.op[i]]}, serving fallback response" for i in ix.tolist()
    ]
    rows.add(end[ix], flat.pod[ix], "WARN", msgs, flat.trace[ix], flat.span_id[ix])

    # what callers see of a failed call: the caller pod logs it against its own server span
    cli = flat.kind == CLIENT
    callee = names.op_services[flat.op]
    for origin, prob in (
        (EXC, 0.95),
        (OOM, 0.95),
        (BENIGN, 0.6),
        (PROPAGATED, 0.35),
        (ERRRET, 0.9),
        (REFUSED, 0.95),
        (TIMEOUT, 0.9),
    ):
        ix = pick(cli & (flat.origin == origin) & (w < prob))
        msgs = []
        for i in ix.tolist():
            cs, op = svc_names[callee[i]], op_names[flat.op[i]]
            url = _endpoint(cs, op)
            if origin == ERRRET:
                msgs.append(
                    f'Unexpected response from {cs} for {op}: status=400 body={{"status":0,"msg":"failed"}}'
                )
            elif origin == REFUSED:
                msgs.append(f'I/O error on request for "{url}": Connection refused (Connection refused)')
            elif origin == TIMEOUT:
                msgs.append(
                    f'I/O error on request for "{url}": Read timed out after {int(flat.dur_us[i] // 1000)} ms'
                )
            else:
                msgs.append(f'Call to {cs} {op} failed: 500 Internal Server Error from "{url}"')
        rows.add(end[ix], flat.pod[ix], "ERROR", msgs, flat.trace[ix], flat.parent_id[ix])
    ix = pick(cli & flat.rto & (w < 0.4))
    msgs = [
        f'Connection reset by peer calling "{_endpoint(svc_names[callee[i]], op_names[flat.op[i]])}", retrying (attempt 2)'
        for i in ix.tolist()
    ]
    rows.add(end[ix], flat.pod[ix], "WARN", msgs, flat.trace[ix], flat.parent_id[ix])

    if not rows.msg:
        df = empty_frame(LOG_COLUMNS)
    else:
        pod = np.concatenate(rows.pod)
        tids = np.asarray(trace_ids, dtype=object)
        df = pd.DataFrame(
            {
                "ts_us": np.concatenate(rows.ts),
                "service": names.services[names.pod_services[pod]],
                "pod": names.pods[pod],
                "node": names.pod_nodes[pod],
                "level": np.concatenate(rows.level),
                "message": rows.msg,
                "trace_id": tids[np.concatenate(rows.trace)],
                "span_id": hex_ids(np.concatenate(rows.span), 16),
            }
        )
    if extra is not None and len(extra):
        df = pd.concat([df, extra], ignore_index=True)
    df = df.sort_values(["ts_us", "pod"], kind="mergesort")
    return conform(df, LOG_COLUMNS, "synthetic", "logs")
