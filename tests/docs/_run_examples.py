"""Runs one page's examples in order, in one namespace, as a reader would.

Reads JSON, from the file named by its argument or else from stdin:
``{"page": str, "examples": [{"line": int, "code": str}]}``. Started by torchrun, every
rank runs the page.
Prints ``ran N examples`` and exits 0, or prints the failing example and its
traceback and exits 1.
"""

import json
import sys
import traceback


def main() -> int:
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as source:
            job = json.load(source)
    else:
        job = json.load(sys.stdin)
    namespace = {"__name__": "__main__"}
    for example in job["examples"]:
        try:
            code = compile(example["code"], f"{job['page']}:{example['line']}", "exec")
            exec(code, namespace)
        except BaseException:
            print(f"Example at {job['page']} line {example['line']} failed:\n")
            print(example["code"])
            traceback.print_exc(file=sys.stdout)
            return 1
    print(f"ran {len(job['examples'])} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
