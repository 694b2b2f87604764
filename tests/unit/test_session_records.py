import csv
import io
from pathlib import Path

import pytest
from session_records import RECORD_FIELDS, Raw, RecordWriter, record_line
from session_tracking import Reply

# (raw, the row csv.writer got before records were batched and formatted by hand)
CASES: list[tuple[Raw, tuple[object, ...]]] = [
    (
        (
            1795487051.1965752,
            5,
            Reply("9DA2", "node1", 725),
            "kept",
            5.4561,
            200,
            None,
            None,
            True,
            None,
        ),
        ("1795487051.196575", 5, "9DA2", "node1", 725, "kept", "5.456", 200, "", "", ""),
    ),
    (  # an HTTP error: no reply
        (1795487051.5, 7, None, "error", 1000.0, 503, None, None, True, None),
        ("1795487051.500000", 7, "", "", "", "error", "1000.000", 503, "", "", ""),
    ),
    (  # no HTTP reply at all, open model
        (1795487052.0, 1001, None, "error", 3.0, 0, 1795487051.99, 13.0004, True, None),
        (
            "1795487052.000000",
            1001,
            "",
            "",
            "",
            "error",
            "3.000",
            0,
            "1795487051.990000",
            "13.000",
            "",
        ),
    ),
    (  # from the JSON route: a node name csv must quote
        (
            1795487053.25,
            2,
            Reply("S", 'n,"1"', 3),
            "session_lost",
            2.0,
            200,
            None,
            None,
            False,
            None,
        ),
        ("1795487053.250000", 2, "S", 'n,"1"', 3, "session_lost", "2.000", 200, "", "", ""),
    ),
    (  # the parallel scenario: two acknowledged ids missing from this reply
        (1795487054.5, 3, Reply("S", "node2", 41), "data_lost", 1.5, 200, None, None, True, 2),
        ("1795487054.500000", 3, "S", "node2", 41, "data_lost", "1.500", 200, "", "", 2),
    ),
]


def _csv_line(row: tuple[object, ...]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(row)
    return out.getvalue()


@pytest.mark.parametrize(("raw", "row"), CASES)
def test_a_record_line_is_what_csv_writer_writes(raw: Raw, row: tuple[object, ...]) -> None:
    assert record_line(raw) == _csv_line(row)


def test_the_writer_keeps_every_row_in_order_and_shows_the_first_at_once(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    writer = RecordWriter(str(path))
    raws = [raw for raw, _ in CASES] * (RecordWriter.BATCH // 2)  # more than one batch
    writer.add(raws[0])
    with path.open(newline="") as handle:  # a watcher's view, before the writer is closed
        assert list(csv.reader(handle)) == [list(RECORD_FIELDS), [str(v) for v in CASES[0][1]]]
    for raw in raws[1:]:
        writer.add(raw)
    writer.close()
    expected = [_csv_line(RECORD_FIELDS)] + [record_line(raw) for raw in raws]
    with path.open(newline="") as handle:
        assert handle.read() == "".join(expected)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(raws)
    assert rows[3]["node"] == 'n,"1"'
