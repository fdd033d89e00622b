"""Benchmark: the Functions deployment package - its size and `function_app`'s cold import.

A Consumption / Flex instance that scales out pays the import of `function_app` on every cold
start, and uploads and unpacks the package on every deploy. Stages the package exactly as
`.funcignore` keeps it, installs requirements.txt alone into .venv-runtime (as the host's remote
build does), then imports `function_app` in N fresh processes. The baseline, in the same
virtualenv and the same run, is a process importing only the two Functions SDKs every Python
Durable app needs (`azure.functions`, `azure.durable_functions`), so the ratio is the cost our
app adds on top. Asserts nothing; prints figures for docs/benchmarks.md.

Usage: python bench/functions_footprint.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from deploy_package import (  # noqa: E402
    package_files,
    runtime_python,
    site_packages_bytes,
    stage,
)

APP = "import function_app; function_app.app.get_functions()"
BASELINE = "import azure.functions, azure.durable_functions"


def cold(python: Path, package: Path, codes: list[str], runs: int) -> list[list[float]]:
    """Wall seconds of `python -c code` in fresh processes, bytecode already compiled.

    The codes take turns, so a load that changes during the run weighs on each alike.
    """
    env = {"PATH": "/usr/bin:/bin", "HOME": str(package)}
    for code in codes:  # compile and cache the .pyc files once
        subprocess.run([str(python), "-c", code], cwd=package, env=env, check=True)
    times: list[list[float]] = [[] for _ in codes]
    for _ in range(runs):
        for index, code in enumerate(codes):
            started = time.perf_counter()
            subprocess.run([str(python), "-c", code], cwd=package, env=env, check=True)
            times[index].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    python = runtime_python()
    with tempfile.TemporaryDirectory(prefix="entra-backup-package-") as scratch:
        package = Path(scratch)
        size = stage(package)
        app, base = cold(python, package, [APP, BASELINE], args.runs)
    app_median, base_median = statistics.median(app), statistics.median(base)
    print(f"package: {len(package_files())} files, {size / 1e6:.2f} MB "
          f"(runtime dependencies {site_packages_bytes() / 1e6:.0f} MB installed)")
    print(f"cold import of function_app: median {app_median:.2f} s, min {min(app):.2f} s "
          f"over {args.runs} fresh processes")
    print(f"baseline (Functions + Durable SDKs only): median {base_median:.2f} s; "
          f"app / baseline = {app_median / base_median:.2f}x")


if __name__ == "__main__":
    main()
