"""Hostile model files, saves and inputs: each attack's outcome, time and memory, on the installed package.

Run it against two checkouts to compare them (the package is whatever ``PYTHONPATH`` names)::

    PYTHONPATH=/path/to/old python3 scripts/hostile_inputs.py
    PYTHONPATH=/path/to/new python3 scripts/hostile_inputs.py

Every attack runs in a child process under an address-space limit (``--headroom-mb``
above what the child holds after its imports, default 4096) and a timeout
(``--timeout``, default 60 s), so an attack that would take the machine's memory or
hang is reported as such instead. Linux only (RLIMIT_AS, /proc, FIFOs).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from workload_predictor import WorkloadPredictor, persistence

PRELUDE = textwrap.dedent("""
    import json, os, resource, sys, time
    import numpy as np, pandas as pd
    import workload_predictor
    from workload_predictor import persistence, predictor, WorkloadPredictor
    from workload_predictor.models import dlinear
    np.linalg.solve(np.eye(64), np.ones(64))
    if {torch}:
        import torch
    with open("/proc/self/statm") as f:
        virtual = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (virtual + {headroom} * 2**20, resource.RLIM_INFINITY))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    def report(outcome):
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        print(json.dumps(dict(outcome=str(outcome)[:200], seconds=round(time.perf_counter() - started, 3),
                              peak_growth_mb=round(grown, 1))))
    try:
""")
EPILOGUE = textwrap.dedent("""
    except BaseException as exc:
        report(f"{type(exc).__name__}: {str(exc)[:150]} [message {len(str(exc)):,} chars]")
""")


def run_child(body: str, args: argparse.Namespace, torch: bool = False) -> dict:
    code = PRELUDE.format(torch=torch, headroom=args.headroom_mb) + textwrap.indent(body, "    ") + EPILOGUE
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {args.timeout} s (killed)"}
    if done.returncode != 0 or not done.stdout.strip():
        return {"outcome": f"child died (exit {done.returncode}): {done.stderr.strip()[-150:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- forging model files ---------------------------------------------------------------------------------
def split_file(data: bytes) -> tuple[dict, bytes]:
    end = data.index(b"\n", len(persistence.MAGIC))
    return json.loads(data[len(persistence.MAGIC) : end]), data[end + 1 :]


def join_file(header: dict, payload: bytes) -> bytes:
    header = {**header, "payload_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    return persistence.MAGIC + json.dumps(header).encode() + b"\n" + payload


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(split_file(data)[1])) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
    return out.getvalue()


def deflated_zeros_member(archive: zipfile.ZipFile, name: str, n_bytes: int) -> None:
    """A member of ``n_bytes`` zeros (an .npy of float64), DEFLATE-compressed, written in chunks."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(npy_header((n_bytes // 8,)))
        chunk = bytes(1 << 24)
        for _ in range(n_bytes // len(chunk)):
            member.write(chunk)


def archive_with(data: bytes, replace: dict[str, bytes] | None = None, bomb: tuple[str, int] | None = None) -> bytes:
    members = {**members_of(data), **(replace or {})}
    if bomb:
        members.setdefault(bomb[0], b"")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", allowZip64=True) as archive:
        for name, raw in members.items():
            if bomb and name == bomb[0]:
                deflated_zeros_member(archive, name, bomb[1])
            else:
                archive.writestr(zipfile.ZipInfo(name), raw)
    return join_file(split_file(data)[0], buffer.getvalue())


def with_state(data: bytes, change) -> bytes:
    members = members_of(data)
    key = f"{persistence.STATE_KEY}.npy"
    state = np.load(io.BytesIO(members[key]), allow_pickle=False)
    new = json.dumps(change(json.loads(state.tobytes()))).encode()
    return archive_with(data, {key: npy_header((len(new),), "|u1") + new})


def dlinear_node(state: dict) -> dict:
    for pair in state["state"]["__dict__"]:
        if pair[0] == "model_":
            return pair[1]
    raise KeyError("model_")


def set_pair(pairs: list, name: str, value) -> None:
    for pair in pairs:
        if pair[0] == name:
            pair[1] = value
            return
    pairs.append([name, value])


# -- the attacks -----------------------------------------------------------------------------------------
def load_attacks(workdir: Path, base: bytes) -> list[tuple[str, Path, bool]]:
    """(description, path, needs torch) for each hostile model file."""
    attacks = []

    def add(name: str, data: bytes | None = None, path: Path | None = None, torch: bool = False) -> None:
        path = path or workdir / f"{len(attacks):02d}.wp"
        if data is not None:
            path.write_bytes(data)
        attacks.append((name, path, torch))

    float_member = next(n for n, raw in members_of(base).items() if b"'<f8'" in raw[:128])
    add("member declaring shape (10**12,)", archive_with(base, {float_member: npy_header((10**12,)) + bytes(8)}))
    add("header of 60,000 '['", persistence.MAGIC + b"[" * 60_000 + b"\n")
    zero = workdir / "zero.wp"
    zero.symlink_to("/dev/zero")
    add("symlink to /dev/zero", path=zero)
    fifo = workdir / "fifo.wp"
    os.mkfifo(fifo)
    add("FIFO with no writer", path=fifo)
    add("a directory", path=workdir)
    add("1.5 GB DEFLATE member in a small file", archive_with(base, bomb=(float_member, 1536 * 2**20)))

    def keep_big(state):  # the state points at the inflated array, so it loads and stays in memory
        state["state"]["__dict__"].append(["junk_", {"__array__": "big"}])
        return state

    keeping = with_state(base, keep_big)
    add("2 GB array that loads (DEFLATE) and stays", archive_with(keeping, bomb=("big.npy", 2048 * 2**20)))
    sparse = workdir / "sparse.wp"
    sparse.write_bytes(base)
    os.truncate(sparse, 6 * 2**30)
    add("sparse 6 GiB file", path=sparse)

    def big_network(state):
        weights = {"__dict__": [["lstm.weight_ih_l0", {"__array__": "network_weight"}]]}
        state["state"]["__dict__"].append(["network_", {"__torch__": "_PatchLSTM", "init": [4, 20_000, 1, 3],
                                                         "state": weights}])
        return state

    weight = npy_header((16,)) + bytes(8 * 16)  # an array of its own: one the file already holds is refused first
    add("network declaring hidden size 20,000",
        archive_with(with_state(base, big_network), {"network_weight.npy": weight}), torch=True)

    def horizon(state):
        set_pair(state["params"]["__dict__"], "horizon", 300_000_000)
        set_pair(dlinear_node(state)["params"]["__dict__"], "horizon", 300_000_000)
        return state

    add("DLinear with horizon 300,000,000", with_state(base, horizon))
    add("model name 'lstm' on a DLinear", with_state(base, lambda s: (set_pair(s["params"]["__dict__"], "model",
                                                                               "lstm"), s)[1]))
    add("confidence_ NaN", with_state(base, lambda s: (set_pair(s["state"]["__dict__"], "confidence_",
                                                                float("nan")), s)[1]))
    add("timing deque without maxlen", with_state(base, lambda s: (set_pair(
        s["state"]["__dict__"], "predict_seconds_", {"__deque__": [], "maxlen": None}), s)[1]))
    return attacks


def load_body(path: Path) -> str:
    return textwrap.dedent(f"""
        loaded = persistence.load({str(path)!r})
        forecast = loaded.predict() if hasattr(loaded, "model_") else None
        shape = None if forecast is None else (len(forecast.index), forecast.yhat.shape)
        report(f"loaded: forecast index/values {{shape}}, confidence {{getattr(loaded, 'confidence_', None)}}, "
               f"timings maxlen {{getattr(getattr(loaded, 'predict_seconds_', None), 'maxlen', '-')}}")
    """)


def save_checks(workdir: Path, predictor: WorkloadPredictor) -> list[tuple[str, str]]:
    results = []
    path = workdir / "saved.wp"
    predictor.save(path)
    os.chmod(path, 0o644)
    predictor.save(path)
    results.append(("save over a 0644 file", f"mode {oct(path.stat().st_mode & 0o777)}"))
    calls = []
    real = os.fsync
    os.fsync = lambda fd: (calls.append(fd), real(fd))[1]
    try:
        predictor.save(path)
    finally:
        os.fsync = real
    results.append(("fsync calls in one save", str(len(calls))))
    code = textwrap.dedent(f"""
        import os, signal
        from workload_predictor import WorkloadPredictor
        predictor = WorkloadPredictor.load({str(path)!r})
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        predictor.save({str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", code], capture_output=True)
    orphans = [n for n in os.listdir(workdir) if n != "saved.wp" and "saved.wp" in n]
    predictor.save(path)
    left = [n for n in os.listdir(workdir) if n != "saved.wp" and "saved.wp" in n]
    results.append(("save killed mid-write, then one more save",
                    f"{len(orphans)} orphan(s) after the kill, {len(left)} after the next save"))
    return results


def input_attacks(workdir: Path) -> list[tuple[str, str]]:
    """(description, child body) for the parsing attacks."""
    big_field = workdir / "field.csv"
    with open(big_field, "wb") as out:
        out.write(b"timestamp,requests\n2024-01-01T00:00:00,1\n")
        out.write(b"x" * (100 * 2**20) + b",1\n")
    nul = workdir / "nul.csv"
    nul.write_bytes(b"timestamp,requests\n" + b"\0" * 100_000 + b",1\n2024-01-01T00:00:00,2\n")
    series = workdir / "series.csv"
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="1min"),
                  "requests": np.arange(300) % 17}).to_csv(series, index=False)
    late = workdir / "late.csv"
    pd.DataFrame({"timestamp": pd.date_range("2262-04-11 20:00", periods=221, freq="1min"),
                  "requests": np.arange(221) % 7}).to_csv(late, index=False)

    def cli(*argv: str) -> str:
        return textwrap.dedent(f"""
            import subprocess
            done = subprocess.run([sys.executable, "-m", "workload_predictor.cli", *{list(argv)!r}],
                                  capture_output=True, text=True)
            line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            report(f"exit {{done.returncode}}, stderr {{len(done.stderr):,}} chars: {{line[:150]}}")
        """)

    return [
        ("400,000-character garbage timestamp", textwrap.dedent("""
            from workload_predictor.data import to_utc_index
            to_utc_index(["x" * 400_000])
            report("parsed")
        """)),
        ("CSV with a 100 MB field (CLI forecast)", cli("forecast", str(big_field), "-q")),
        ("100 KB of NUL bytes as a timestamp (CLI forecast)", cli("forecast", str(nul), "-q")),
        ("request log starting 1677-09-21 00:12:43 at 1h", textwrap.dedent("""
            from workload_predictor import bucketize
            bucketize(pd.DataFrame({"TIMESTAMP": ["1677-09-21T00:12:43.145224193Z", "1677-09-21T00:12:44Z"]}),
                      freq="1h")
            report("bucketized")
        """)),
        ("forecast reaching past 2262-04-11 (CLI forecast)", cli("forecast", str(late), "-q", "--model",
                                                                 "dlinear")),
        ("evaluate --test-size nan", cli("evaluate", str(series), "-q", "--test-size", "nan")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--headroom-mb", type=int, default=4096)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", default="", help="run only attacks whose description contains this")
    args = parser.parse_args()
    import workload_predictor

    print(f"# package: {Path(workload_predictor.__file__).parent}  (headroom {args.headroom_mb} MiB, "
          f"timeout {args.timeout:g} s)")
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=300, freq="1min"),
                          "requests": 50 + 10 * np.sin(np.arange(300) / 9)})
    predictor = WorkloadPredictor(horizon=10).fit(frame)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        files = workdir / "files"
        files.mkdir()
        for name, path, torch in load_attacks(files, persistence.dumps(predictor)):
            if args.only in name:
                started = time.perf_counter()
                result = run_child(load_body(path), args, torch=torch)
                print(f"load | {name} | {result.get('outcome')} | {time.perf_counter() - started:.1f} s wall, "
                      f"peak +{result.get('peak_growth_mb', '?')} MB")
        saves = workdir / "saves"
        saves.mkdir()
        if args.only in "save":
            for name, outcome in save_checks(saves, predictor):
                print(f"save | {name} | {outcome}")
        for name, body in input_attacks(workdir):
            if args.only in name:
                started = time.perf_counter()
                result = run_child(body, args)
                print(f"input | {name} | {result.get('outcome')} | {time.perf_counter() - started:.1f} s wall, "
                      f"peak +{result.get('peak_growth_mb', '?')} MB")


if __name__ == "__main__":
    main()
