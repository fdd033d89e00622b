"""checkov over infra/ with zero failed checks, every skip explained, and nothing unseen.

checkov 3.3.30 reads Bicep with its pinned pycep-parser 0.5.1 and lives in .venv-checkov
(scripts/check_infra.sh, called by `make test`). A file it cannot parse, a check that crashed,
or a resource it did not see counts as a failure here, never as a pass: its own parse must
find exactly the resources the suite's parse (pycep-parser 0.7.1) finds, and every resource
of a type checkov has checks for must appear in its results.
Flags: https://www.checkov.io/2.Basics/CLI%20Command%20Reference.html (--skip-download keeps
it offline); suppressions: https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from tests.infra.bicep import INFRA, ROOT, bicep_files, parse

VENV = ROOT / ".venv-checkov" / "bin"


@cache
def checkov() -> tuple[dict[str, Any], str]:
    assert (VENV / "checkov").exists(), "run `bash scripts/check_infra.sh` (make test does)"
    run = subprocess.run(
        [str(VENV / "checkov"), "-d", "infra", "--framework", "bicep", "--skip-download",
         "--compact", "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(run.stdout)
    assert isinstance(report, dict), "one framework, one report"
    return report, run.stderr


@cache
def probe() -> dict[str, Any]:
    run = subprocess.run([str(VENV / "python"), str(Path(__file__).with_name("checkov_probe.py")),
                          "infra"], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=300)
    return dict(json.loads(run.stdout))


def our_resources(path: Path) -> dict[str, str]:
    return {name: body["type"] for name, body in parse(path)["resources"].items()
            if not body.get("existing")}


def test_checkov_reports_no_failed_check_and_no_parsing_error() -> None:
    report, stderr = checkov()
    summary = report["summary"]
    assert summary["failed"] == 0, [(c["check_id"], c["resource"])
                                     for c in report["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 25
    assert "Failed to run check" not in stderr, stderr[-2000:]


def test_every_skip_carries_a_written_reason() -> None:
    report, _ = checkov()
    skipped = report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason and reason != "No comment provided" and len(reason) > 30, check["check_id"]


def test_checkovs_parser_reads_every_file_whole() -> None:
    seen = probe()["files"]
    assert set(seen) == {str(p.relative_to(ROOT)) for p in bicep_files()}
    for name, found in seen.items():
        assert found["error"] is None, (name, found["error"])
        assert found["resources"] == our_resources(ROOT / name), name


def test_checkov_checked_every_resource_of_a_type_it_has_checks_for() -> None:
    report, _ = checkov()
    reported: dict[str, set[str]] = defaultdict(set)
    results = report["results"]
    for check in results["passed_checks"] + results["failed_checks"] + results["skipped_checks"]:
        reported[check["file_path"].lstrip("/")].add(check["resource"])
    checked_types = {resource.rsplit(".", 1)[0] for names in reported.values()
                     for resource in names}
    assert {"Microsoft.Storage/storageAccounts", "Microsoft.Web/sites",
            "Microsoft.Web/serverfarms"} <= checked_types
    total = 0
    for path in bicep_files():
        expected = {f"{type_}.{name}" for name, type_ in our_resources(path).items()
                    if type_ in checked_types}
        assert reported.get(str(path.relative_to(INFRA)), set()) == expected, path.name
        total += len(expected)
    assert report["summary"]["resource_count"] >= total
