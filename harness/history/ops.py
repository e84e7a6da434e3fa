"""What the history commands do, as plain keyword-only functions (the CLI only parses and prints)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import HarnessError
from ..records import RUN_FILE
from ..util import atomic_write_text, text_table
from .detect import Step, check, find_steps
from .ingest import Ingested, ingest_path
from .series import Series, build_series
from .store import open_store


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError as exc:
        raise HarnessError(f"--threshold {text!r}: give a percentage such as 5%") from exc
    if not 0 < value < 10:
        raise HarnessError(f"--threshold {text!r}: give a percentage above 0, such as 5%")
    return value


def add_paths(paths: list[Path], *, store: Path, device: str | None = None, commit: str | None = None,
              branch: str | None = None) -> int:
    """Add run folders (or imported native record files); the number of rows written."""
    items = [ingest_path(Path(p), device=device, commit=commit, branch=branch) for p in paths]
    with open_store(store) as db:
        return db.add_many(items)


def run_folders(root: Path) -> list[Path]:
    """Every run folder (one holding run.json) directly under `root`, in name order."""
    if not root.is_dir():
        raise HarnessError(f"{root}: no such results folder; give run folders to rebuild from")
    return sorted(p for p in root.iterdir() if (p / RUN_FILE).is_file())


def rebuild(*, store: Path, paths: list[Path]) -> tuple[int, int, list[str]]:
    """Recreate the store's runs and points from run folders in one transaction (acknowledgements
    stay). A folder that cannot be read is named and left out. Returns (runs, rows, problems)."""
    items: list[Ingested] = []
    problems: list[str] = []
    for p in paths:
        try:
            items.append(ingest_path(Path(p)))
        except HarnessError as exc:
            problems.append(str(exc))
    with open_store(store) as db, db.write() as con:
        for table in ("points", "runs", "devices", "series", "configs"):
            con.execute(f"DELETE FROM {table}")
        for item in items:
            db._insert(con, item)
    return len(items), sum(len(i.points) for i in items), problems


def load_series(*, store: Path, last: int | None, device: str | None = None,
                model: str | None = None) -> tuple[list[Series], set[str]]:
    with open_store(store, create=False) as db:
        return build_series(db.points(last=last, device=device, model=model)), db.acked()


def run_check(*, store: Path, threshold: float, last: int | None = 20, baseline: str | None = None,
              window: int | None = 200, device: str | None = None, model: str | None = None) -> list[Step]:
    """Open (unacknowledged) steps beyond `threshold` that began in the last `last` runs of their series,
    or after the run `baseline` (run id, key or commit). The fit sees each series' newest `window` runs."""
    after = None
    if baseline:
        with open_store(store, create=False) as db:
            run = db.find_run(baseline)
        if run is None:
            raise HarnessError(f"{store}: no run {baseline!r} in the history (give a run id or a commit)")
        after = run["created_at"]
        last = None
    series, acked = load_series(store=store, last=window, device=device, model=model)
    return check(series, threshold, recent=last, after_created=after, acked=acked)


def ack(*, store: Path, step_ids: list[str], note: str | None, threshold: float,
        window: int | None = 200) -> list[Step]:
    """Acknowledge steps by id (as `history check` prints them); an unknown id is an error."""
    series, acked = load_series(store=store, last=window)
    known = {st.step_id: st for s in series for st in find_steps(s, threshold)}
    missing = [i for i in step_ids if i not in known]
    if missing:
        raise HarnessError(f"{store}: no step {', '.join(missing)} in the history; "
                           "`edgebench history check` lists the open steps and their ids")
    with open_store(store) as db:
        for i in step_ids:
            db.ack(i, known[i].series, known[i].run_key, note)
    return [known[i] for i in step_ids]


def show(*, store: Path, last: int | None, threshold: float, device: str | None = None,
         model: str | None = None, html_path: Path | None = None) -> tuple[str, list[Series], list[Step]]:
    """The terminal table, and history.html when `html_path` is given."""
    series, acked = load_series(store=store, last=last, device=device, model=model)
    if not series:
        raise HarnessError(f"{store}: no points match; add runs with `edgebench history add RUN_DIR`")
    steps = check(series, threshold, acked=acked)
    table = summary_table(series, steps)
    if html_path is not None:
        from .html import page

        html_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(html_path, page(series, steps, str(store)))
    return table, series, steps


def summary_table(series: list[Series], steps: list[Step]) -> str:
    open_by = {st.series: st for st in steps}
    rows = []
    for s in series:
        last = s.points[-1]
        scale, unit = (1.0, "x") if s.kind == "speedup" else (1e-6, " ms")
        interval = (f"[{last['lo'] * scale:.4g}, {last['hi'] * scale:.4g}]"
                    if last["lo"] is not None and last["hi"] is not None else "-")
        st = open_by.get(s.name)
        rows.append([s.name, len(s.points), len(s.boundaries()), f"{last['value'] * scale:.4g}{unit}", interval,
                     f"{st.change:+.1%} at {st.run_id} ({st.step_id})" if st else "-"])
    return text_table(["series", "runs", "boundaries", "latest", "95% interval", "open step"], rows,
                      right=(1, 2, 3))


def steps_table(steps: list[Step]) -> str:
    def fmt(st: Step, v: float) -> str:
        return f"{v:.3f}x" if st.kind == "speedup" else f"{v / 1e6:.4g} ms"

    return text_table(["step id", "series", "from run", "commit", "before", "after", "change"],
                      [[st.step_id, st.series, st.run_id, (st.git_commit or "-")[:12], fmt(st, st.before),
                        fmt(st, st.after), f"{st.change:+.1%}"] for st in steps], right=(4, 5, 6))


def warn(msg: str) -> None:
    print(f"edgebench: warning: {msg}", file=sys.stderr)
