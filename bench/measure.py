"""`python -m bench.measure RESULT.json COMMAND...`: run COMMAND, then write its wall and CPU seconds and peak RSS.

A child's peak RSS counts the memory of the process that forked it (Linux keeps
the high-water mark across exec), so the harness forks every measured command
from this small process, never from itself.
"""

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    result_path, *command = argv
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    figures = {
        "wall": time.perf_counter() - started,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
        "exit_code": code,
    }
    with open(result_path, "w") as out:
        json.dump(figures, out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
