"""Fuzzing both decoders: the Python one under atheris, the C one as a libFuzzer target.

Usage:
    .venv/bin/python bench/fuzz_decoder.py [--runs 1000000] [--seed N] [--corpus DIR]
    .venv/bin/python bench/fuzz_decoder.py --c [--runs 10000000] [--seed N] [--corpus DIR] [--build DIR]
    .venv/bin/python bench/fuzz_decoder.py [--c] --reproduce FILE

Python (default): ``bench/fuzz_target.py`` checks one input (the frame decoder fed in chunks
the fuzzer chooses, both roles' connections, every message type's decoding and re-encoding, the
host's state machine); this script runs it under atheris in a child process, its protocol
modules instrumented for coverage, for ``--runs`` inputs (1,000,000 by default).

C (``--c``): ``firmware_protocol/c/fuzz/fuzz_decoder.c`` is built with clang against the C
reference implementation's sources (``firmware_protocol/c/src/*.c``, compiled here, their Makefile
untouched) and linked with ``-fsanitize=fuzzer,address,undefined`` into ``--build`` (a temporary
folder by default); it runs ``--runs`` inputs (10,000,000 by default). Both targets read the same
input layout, so they share the seeds.

The corpus (``--corpus DIR``, a temporary folder by default) is seeded with the frames of
``firmware_protocol/vectors.json``. The script prints the inputs run, libFuzzer's coverage
figures (``cov``: edges reached, ``ft``: features), the corpus, the crashes and the time; the
target is no crash. A crashing input is kept (its path is printed) and ``--reproduce FILE`` runs
it again. ``--json`` prints the figures as one JSON line on stdout instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
C_DIR = ROOT / "firmware_protocol" / "c"
C_TARGET = C_DIR / "fuzz" / "fuzz_decoder.c"
C_FLAGS = [
    "-std=c99",  # as the Makefile builds the core
    "-g",
    "-O2",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=all",
    # A small event buffer (the struct's size; every file must agree): the target formats it per input.
    "-DSS_RING_CAPACITY=64",
]
#: The decoder's sources: libFuzzer's coverage (edges and comparisons) and both sanitizers.
C_SANITIZE_LIB = "-fsanitize=fuzzer-no-link,address,undefined"
#: The target itself: both sanitizers, no coverage (its own loops would only slow the search down).
C_SANITIZE_TARGET = "-fsanitize=address,undefined"
C_SANITIZE_LINK = "-fsanitize=fuzzer,address,undefined"
#: Seconds between the progress lines printed from libFuzzer's status lines.
PROGRESS_EVERY = 30.0
PY_RUNS = 1_000_000
C_RUNS = 10_000_000
#: Longest input tried: a stream of a dozen frames or more, oversize runs included (the seeds of a
#: host session fit). The C target runs ten times the inputs: half the length keeps that within the hour.
PY_MAX_LEN = 512
C_MAX_LEN = 256

_STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)(?: corp: (\d+)/\S+)?(?: .*exec/s: (\d+))?")
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_CRASH = re.compile(r"ERROR: (libFuzzer|AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)|runtime error:")


def seed_corpus(corpus: Path) -> int:
    """Write the seeds (bench/fuzz_target.py, from vectors.json) into ``corpus``; how many."""
    sys.path.insert(0, str(ROOT))
    from bench.fuzz_target import seed_inputs  # the parent's copy: not instrumented, not fuzzed

    corpus.mkdir(parents=True, exist_ok=True)
    seeds = seed_inputs()
    for data in seeds.values():
        (corpus / f"seed-{hashlib.sha1(data).hexdigest()[:16]}").write_bytes(data)
    return len(seeds)


def build_c(build: Path, cc: str) -> Path:
    """Compile the C decoder's sources and the fuzz target with clang's libFuzzer and sanitizers; link them."""
    sources = sorted((C_DIR / "src").glob("*.c"))
    if not sources or not C_TARGET.exists():
        raise SystemExit(f"no C decoder to fuzz: {C_DIR}/src/*.c and {C_TARGET} are needed")
    objects = build / "obj"
    objects.mkdir(parents=True, exist_ok=True)
    binary = build / "fuzz_decoder"
    includes = ["-I", str(C_DIR / "include"), "-I", str(C_DIR / "src")]
    commands = [
        [cc, *C_FLAGS, C_SANITIZE_TARGET if source == C_TARGET else C_SANITIZE_LIB, *includes, "-c", str(source)]
        for source in [C_TARGET, *sources]
    ]
    for command, source in zip(commands, [C_TARGET, *sources], strict=True):
        command += ["-o", str(objects / f"{source.stem}.o")]
    commands.append(
        [cc, C_SANITIZE_LINK, *(str(objects / f"{s.stem}.o") for s in [C_TARGET, *sources]), "-o", str(binary)]
    )
    started = time.monotonic()
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"building the C fuzz target failed:\n$ {' '.join(command)}\n{result.stderr}")
    print(f"built {binary} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return binary


def parse_log(lines: list[str]) -> dict[str, Any]:
    """The figures of a libFuzzer run from its output."""
    figures: dict[str, Any] = {"inputs": 0, "cov": 0, "ft": 0, "corpus": 0, "crashes": 0, "artifacts": []}
    for line in lines:
        status = _STATUS.match(line)
        if status:
            figures["inputs"] = int(status[1])
            figures["cov"], figures["ft"] = int(status[3]), int(status[4])
            if status[5]:
                figures["corpus"] = int(status[5])
        stat = _STAT.match(line)
        if stat:
            figures[stat[1]] = int(stat[2])
        artifact = _ARTIFACT.search(line)
        if artifact:
            figures["artifacts"].append(artifact[1])
        if _CRASH.search(line) or "Uncaught Python exception" in line:
            figures.setdefault("error", line.strip())
    if "number_of_executed_units" in figures:
        figures["inputs"] = figures["number_of_executed_units"]
    figures["crashes"] = len(figures["artifacts"]) or int("error" in figures)
    return figures


def run_fuzzer(command: list[str], log: Path, env: dict[str, str]) -> tuple[int, list[str], float]:
    """Run a libFuzzer process; its output goes to ``log``, its progress lines to stderr."""
    started = time.monotonic()
    lines: list[str] = []
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
        )
        stream: IO[str] | None = proc.stdout
        assert stream is not None
        shown = -PROGRESS_EVERY
        for line in stream:
            out.write(line)
            lines.append(line)
            now = time.monotonic() - started
            if _STATUS.match(line) and (now - shown >= PROGRESS_EVERY or " DONE " in line):
                print(f"  {now:7.1f} s  {line.rstrip()}", file=sys.stderr)
                shown = now
        returncode = proc.wait()
    return returncode, lines, time.monotonic() - started


def libfuzzer_args(args: argparse.Namespace, runs: int, artifacts: Path, corpus: Path) -> list[str]:
    options = [
        f"-runs={runs}",
        f"-seed={args.seed}",
        f"-max_len={args.max_len or (C_MAX_LEN if args.c else PY_MAX_LEN)}",
        "-timeout=30",
        "-reload=0",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    if args.max_time:
        options.append(f"-max_total_time={args.max_time}")
    return [*options, str(corpus)]


def fuzz(args: argparse.Namespace) -> dict[str, Any]:
    runs = args.runs if args.runs is not None else (C_RUNS if args.c else PY_RUNS)
    work = Path(tempfile.mkdtemp(prefix="stampside-fuzz-"))
    corpus = Path(args.corpus) if args.corpus else work / "corpus"
    seeds = seed_corpus(corpus)
    before = len(list(corpus.iterdir()))
    artifacts = work / "artifacts"
    artifacts.mkdir()
    env = dict(os.environ)
    if args.c:
        binary = build_c(Path(args.build) if args.build else work / "build", args.cc)
        command = [str(binary), *libfuzzer_args(args, runs, artifacts, corpus)]
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        which = "C decoder (clang libFuzzer, ASan + UBSan)"
    else:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            *libfuzzer_args(args, runs, artifacts, corpus),
        ]
        env["PYTHONHASHSEED"] = "0"  # the same seed runs the same inputs
        which = f"Python decoder (atheris {_atheris_version()}, libFuzzer)"
    print(f"fuzzing the {which}: {runs:,} inputs, seed {args.seed}, corpus {corpus}", file=sys.stderr)
    returncode, lines, elapsed = run_fuzzer(command, work / "fuzz.log", env)
    figures = parse_log(lines)
    figures.update(
        decoder="c" if args.c else "python",
        runs_asked=runs,
        seed=args.seed,
        seeds=seeds,
        corpus_before=before,
        corpus_after=len(list(corpus.iterdir())),
        seconds=round(elapsed, 1),
        returncode=returncode,
        log=str(work / "fuzz.log"),
    )
    if returncode != 0 and not figures["crashes"]:
        figures["crashes"] = 1  # it died some other way: count it, the log says how
        figures.setdefault("error", f"the fuzzer exited with {returncode}")
    figures["ok"] = figures["crashes"] == 0 and (figures["inputs"] >= runs or bool(args.max_time))
    if figures["crashes"] == 0 and not args.keep:
        shutil.rmtree(work)  # the log, and the corpus and build unless they were given
        figures["log"] = None
    figures["which"] = which
    return figures


def report(figures: dict[str, Any]) -> None:
    inputs, seconds = figures["inputs"], figures["seconds"]
    rate = inputs / seconds if seconds else 0.0
    print(figures["which"])
    asked, seed = figures["runs_asked"], figures["seed"]
    print(f"  inputs:   {inputs:,} of {asked:,} in {seconds:.1f} s ({rate:,.0f}/s), seed {seed}")
    print(f"  coverage: cov {figures['cov']:,} (edges), ft {figures['ft']:,} (features)")
    print(
        f"  corpus:   {figures['corpus_before']:,} inputs ({figures['seeds']} seeds) -> {figures['corpus_after']:,}"
        f" files; {figures.get('new_units_added', 0):,} new units in the run"
    )
    print(f"  peak RSS: {figures.get('peak_rss_mb', 0)} MB")
    print(f"  crashes:  {figures['crashes']}")
    if figures["crashes"]:
        print(f"    {figures.get('error', '')}")
        for artifact in figures["artifacts"]:
            print(f"    input kept: {artifact}  (reproduce: bench/fuzz_decoder.py --reproduce {artifact})")
        print(f"    log: {figures['log']}")
    verdict = "met" if figures["ok"] else "MISSED"
    print(f"target (every input run, no crash): {verdict}")


def reproduce(args: argparse.Namespace) -> int:
    path = Path(args.reproduce)
    if args.c:
        binary = build_c(Path(args.build or tempfile.mkdtemp(prefix="stampside-fuzz-")), args.cc)
        env = dict(os.environ, UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        return subprocess.run([str(binary), str(path)], env=env, check=False).returncode
    sys.path.insert(0, str(ROOT))
    from bench.fuzz_target import check

    data = path.read_bytes()
    print(f"{path}: {len(data)} bytes: {data.hex()}")
    check(data)
    print("no invariant broken")
    return 0


def _atheris_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("atheris")
    except PackageNotFoundError:
        raise SystemExit("atheris is not installed: pip install -e '.[test]'") from None


def child(libfuzzer: list[str]) -> None:
    """In the child process: instrument the protocol package, then let libFuzzer call the target."""
    import atheris  # type: ignore[import-untyped]

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["stampside"]):
        from bench.fuzz_target import check
    atheris.Setup([sys.argv[0], *libfuzzer], check)
    atheris.Fuzz()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--c", action="store_true", help="fuzz the C decoder (clang libFuzzer) instead of Python's")
    parser.add_argument("--runs", type=int, help=f"inputs to run (default {PY_RUNS:,}; with --c {C_RUNS:,})")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    parser.add_argument("--corpus", help="corpus folder, kept and grown (default: a temporary one)")
    parser.add_argument("--max-len", type=int, help=f"longest input (default {PY_MAX_LEN}; with --c {C_MAX_LEN})")
    parser.add_argument("--max-time", type=int, default=0, help="stop after this many seconds (default: no limit)")
    parser.add_argument("--build", help="with --c: build folder (default: a temporary one)")
    parser.add_argument("--cc", default=os.environ.get("FUZZ_CC", "clang"), help="with --c: the compiler (clang)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (log, artifacts) after a clean run")
    parser.add_argument("--reproduce", metavar="FILE", help="run one input (a kept crash) and stop")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    if args.reproduce:
        return reproduce(args)
    figures = fuzz(args)
    if args.json:
        print(json.dumps(figures))
    else:
        report(figures)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
