"""One step of the export benchmark, in a process of its own (so that its peak memory is
its own):

    python exportbench_worker.py seed RESPONSES NOW    seeds the world
    python exportbench_worker.py export OUT_DIR        export_programme, timed
    python exportbench_worker.py baseline OUT_DIR      the same rows COPYed out bare, timed

Each prints one JSON line: seconds, peak resident memory (MiB) and what it wrote. The
baseline is the floor of reading the export's rows out of PostgreSQL into CSV files: one
`COPY ... TO STDOUT` per table (participants and item answers), with no pseudonyms, no
k-anonymity, no per-session rows and no codebook.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "platform"), str(HERE), str(HERE.parent / "schedbench")]

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from outcomes.export.services import export_programme  # noqa: E402
from programmes.models import Programme  # noqa: E402

PROGRAMME = "bench"
BASELINE_QUERIES = {
    "participants.csv": (
        "SELECT e.participant_id, a.code, s.code, e.age_band, e.gender, e.track, e.status, "
        "e.enrolled_at, e.ended_at FROM programmes_enrolment e "
        "JOIN programmes_arm a ON a.id = e.arm_id JOIN programmes_site s ON s.id = e.site_id"
    ),
    "answers.csv": (
        "SELECT e.participant_id, s.instrument_slug, t.code, s.completed_at, a.item_key, "
        "a.value FROM outcomes_surveyanswer a JOIN outcomes_surveysession s ON s.id = a.session_id "
        "JOIN outcomes_surveytimepoint t ON t.id = s.timepoint_id "
        "JOIN programmes_enrolment e ON e.id = s.enrolment_id"
    ),
}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(responses: int, now: dt.datetime) -> dict[str, object]:
    import exportbench_world

    started = time.perf_counter()
    programme, answers = exportbench_world.seed(responses, now)
    return {
        "seconds": time.perf_counter() - started,
        "responses": answers,
        "people": programme.enrolments.count(),
    }


def export(out_dir: Path) -> dict[str, object]:
    programme = Programme.objects.get(slug=PROGRAMME)
    before = peak_mib()
    started = time.perf_counter()
    result = export_programme(programme=programme, out_dir=out_dir)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mib": peak_mib(),
        "peak_mib_before": before,
        "rows": {file.name: file.rows for file in result.files},
        "bytes": sum(file.bytes for file in result.files),
    }


def baseline(out_dir: Path) -> dict[str, object]:
    out_dir.mkdir(parents=True)
    connection.ensure_connection()
    raw = connection.connection
    before = peak_mib()
    started = time.perf_counter()
    rows = {}
    for name, query in BASELINE_QUERIES.items():
        with raw.cursor() as cursor, (out_dir / name).open("wb") as handle:
            with cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for chunk in copy:
                    handle.write(chunk)
            rows[name] = cursor.rowcount
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mib": peak_mib(),
        "peak_mib_before": before,
        "rows": rows,
        "bytes": sum(path.stat().st_size for path in out_dir.iterdir()),
    }


def main(argv: list[str]) -> int:
    step = argv[0]
    if step == "seed":
        result = seed(int(argv[1]), dt.datetime.fromisoformat(argv[2]))
    elif step == "export":
        result = export(Path(argv[1]))
    elif step == "baseline":
        result = baseline(Path(argv[1]))
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
