"""Execute (inside the sandbox): ``python .../course/execute.py JOB.json`` runs a notebook.

The job (JSON) names the notebook to run, where to write the executed notebook, the per-cell
timeout and the working folder; a cell's ``metadata.netviz_timeout`` overrides the timeout
(the probes of the evaluation run, which call the student's functions several times).
Cells run top to bottom in a fresh ``python3`` kernel
(nbclient); an error or an interrupted cell does not stop the notebook. If the kernel dies
(a submission that kills it or its parent), what ran so far is written with a note.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(job_path: str) -> int:
    # nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (jupyter's
    # dependencies pull it in); that builds a grammar at import, ~2 s of every run, for IRI
    # format checks a notebook never needs. A None entry makes the import fail fast, and
    # jsonschema goes without those checks.
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    job = json.loads(Path(job_path).read_text())
    nb = nbformat.read(job["notebook"], as_version=4)
    client = NotebookClient(
        nb,
        timeout=int(job["cell_timeout"]),
        timeout_func=lambda cell: cell.metadata.get("netviz_timeout", int(job["cell_timeout"])),
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        resources={"metadata": {"path": job["cwd"]}},
    )
    status = "complete"
    try:
        client.execute()
    except DeadKernelError as exc:
        status = f"the kernel died: {exc}"
    except Exception as exc:  # reported to the grader; the notebook so far is still written
        status = f"{type(exc).__name__}: {exc}"
    nb.metadata["netviz_run"] = {"status": status}
    out = Path(job["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out.with_suffix(".tmp"))
    out.with_suffix(".tmp").replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
