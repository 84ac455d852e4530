"""Print one closing line for the whole CI run, from the JUnit reports its stages wrote.

    python .ci/summary.py REPORT.xml [REPORT.xml ...]

Each stage's own runner prints its own closing line; the last stage (Schemathesis)
closes on a line of warnings that counts no test (.ci/schemathesis rewords it), so this
line totals every stage: a test case per pytest test, and per fuzzed API operation.
Exits non-zero if a report is missing or counts a failure, so it can never turn a red
run green.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> tuple[int, int, int]:
    """(tests, failed or errored, skipped) in one JUnit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests, failed, skipped


def main(paths: list[str]) -> int:
    if not paths:
        print("summary: no JUnit report given", file=sys.stderr)
        return 2
    total_passed = total_failed = total_skipped = 0
    for name in paths:
        path = Path(name)
        if not path.is_file():
            print(f"summary: {name} is missing: that stage wrote no report", file=sys.stderr)
            return 2
        tests, failed, skipped = counts(path)
        passed = tests - failed - skipped
        print(f"  {name}: {passed} passed, {failed} failed, {skipped} skipped")
        total_passed += passed
        total_failed += failed
        total_skipped += skipped
    print(f"ci: {total_passed} passed, {total_failed} failed, {total_skipped} skipped")
    return 1 if total_failed or not total_passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
