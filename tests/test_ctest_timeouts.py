#!/usr/bin/python3
"""Every registered test has a ctest TIMEOUT of at most 600 s (CI has 90 minutes in all: a
hang must fail its test, never eat the run), and every test that starts ranks with
mpiexec/mpirun directly has at most 120 s. Reads `ctest --show-only=json-v1` of the build
tree given as argv[1]; fails naming each offender."""
import json
import subprocess
import sys


def main():
    build = sys.argv[1]
    r = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL ctest --show-only: " + r.stderr[-400:])
        return 1
    bad, n = [], 0
    for t in json.loads(r.stdout)["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        limit = 600
        if t.get("command") and any(x in t["command"][0] for x in ("mpiexec", "mpirun")):
            limit = 120
        n += 1
        timeout = props.get("TIMEOUT")
        if timeout is None or not 0 < float(timeout) <= limit:
            bad.append(f"{t['name']}: TIMEOUT {timeout} (want 0 < TIMEOUT <= {limit})")
    for b in bad:
        print("FAIL " + b)
    print(f"{n} tests, {len(bad)} without a bounded TIMEOUT")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
