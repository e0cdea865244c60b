"""`make bench`: every benchmark of issue 5 in one run, results as Markdown and JSON.

    python -m bench.run                 # everything, writes bench/results/latest.{md,json}
    python -m bench.run --only burst    # some sections (comma-separated keys)
    python -m bench.run --quick         # tiny inputs: checks that the scripts still run

Sections: cold_start, server, request_path, burst, abuse, postgres. Targets that are not met are
reported as such and do not fail the run; a section that crashes does (exit code 1), after the
results of the others are written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import abuse, burst, cold_start, postgres, request_path, server_load
from bench.common import ROOT, Section, machine, table

SECTIONS: dict[str, Callable[[bool], Section]] = {
    "cold_start": cold_start.run,
    "server": server_load.run,
    "request_path": request_path.run,
    "burst": burst.run,
    "abuse": abuse.run,
    "postgres": postgres.run,
}


def render(info: dict[str, Any], sections: Sequence[Section], errors: dict[str, str]) -> str:
    m = info["machine"]
    lines = [
        "## Performance",
        "",
        f"Measured by `make bench` (`python -m bench.run`) on {m['date']}: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB RAM, {m['implementation']} {m['python']}, "
        f"{m['os']}; the whole run took {info['seconds']:.0f} s"
        + (" (**quick mode: tiny inputs, not for publication**)" if info["quick"] else "")
        + ". Every figure below is a ratio or a count measured side by side in this one run; "
        "AWS is emulated in-process by moto (no network), so AWS milliseconds are relative only.",
        "",
        "### Targets",
        "",
    ]
    targets = [t for s in sections for t in s.targets]
    lines.append(table(["target", "goal", "measured", "status"], [t.row() for t in targets]))
    for key, err in errors.items():
        lines += ["", f"**Section `{key}` failed:** `{err}`"]
    for s in sections:
        lines += ["", f"### {s.title}", "", s.markdown]
    return "\n".join(lines) + "\n"


def _finite(value: Any) -> Any:
    """NaN (a statistic of no samples) as null: strict JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


SECTION_RENDERERS: dict[str, Callable[[dict[str, Any]], Section]] = {
    "cold_start": cold_start.section,
    "server": server_load.section,
    "request_path": request_path.section,
    "burst": burst.section,
    "abuse": abuse.section,
}


def rerender(source: Path, target: Path) -> int:
    payload = json.loads(source.read_text(encoding="utf-8"))
    sections = [SECTION_RENDERERS[k](v["data"]) for k, v in payload["sections"].items()]
    info = {k: payload[k] for k in ("machine", "quick", "seconds", "section_seconds")}
    errors = payload.get("errors") or {}
    target.write_text(render(info, sections, errors), encoding="utf-8")
    payload["sections"] = {s.key: s.as_json() for s in sections}
    payload["targets_met"] = all(t.met for s in sections for t in s.targets) and not errors
    source.write_text(
        json.dumps(_finite(payload), indent=2, default=str, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    print(f"bench: wrote {target} (and the targets in {source})", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs (smoke run)")
    parser.add_argument(
        "--only", default="", help="comma-separated sections: " + ", ".join(SECTIONS)
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="results directory"
    )
    parser.add_argument("--name", default="latest", help="file name stem (default latest)")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: rewrite the Markdown (and the targets) from a results JSON file",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        return rerender(args.render, args.out / f"{args.name}.md")
    keys = [k.strip() for k in args.only.split(",") if k.strip()] or list(SECTIONS)
    unknown = [k for k in keys if k not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    started = time.perf_counter()
    sections: list[Section] = []
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    for key in keys:
        print(f"bench: {key} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            sections.append(SECTIONS[key](args.quick))
        except Exception as exc:
            traceback.print_exc()
            errors[key] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        timings[key] = time.perf_counter() - t0
        print(f"bench: {key} done in {timings[key]:.0f} s", file=sys.stderr, flush=True)

    info = {
        "machine": machine(),
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
        "section_seconds": timings,
    }
    markdown = render(info, sections, errors)
    payload = {
        **info,
        "targets_met": all(t.met for s in sections for t in s.targets) and not errors,
        "errors": errors,
        "sections": {s.key: s.as_json() for s in sections},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(markdown, encoding="utf-8")
    (args.out / f"{args.name}.json").write_text(
        json.dumps(_finite(payload), indent=2, default=str, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    print(markdown)
    print(f"bench: wrote {args.out / args.name}.md and .json", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
