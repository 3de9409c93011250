"""Readers: every line of every file ends in rows, rejects or the blank-line count, and the rows are right."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory.core.ingestion import (
    LINE,
    REJECT_REASONS,
    Parsed,
    arrow_as_text,
    parse,
    parse_csv,
    parse_jsonl,
    parse_parquet,
    rows_as_text,
    text_column,
    values_as_text,
)

COLUMNS = ["id", "text", "label"]
MB = 1024 * 1024


def accounted(parsed: Parsed) -> list[int]:
    """Every `_line` in rows and rejects, sorted, after checking no line is in both and the frames' schemas."""
    assert all(dtype == pl.String for name, dtype in parsed.rows.schema.items() if name != LINE)
    assert parsed.rows.schema[LINE] == pl.Int64
    assert parsed.rejects.schema == pl.Schema(
        {LINE: pl.Int64, "reason": pl.String, "detail": pl.String, "payload": pl.String}
    )
    assert set(parsed.rejects["reason"]) <= set(REJECT_REASONS)
    assert parsed.rejects["detail"].str.len_chars().gt(0).all(), "every reject explains itself"
    rows, rejects = parsed.rows[LINE].to_list(), parsed.rejects[LINE].to_list()
    assert not set(rows) & set(rejects), "a line is both a row and a reject"
    assert len(set(rows + rejects)) == len(rows + rejects), "a line appears twice"
    return sorted(rows + rejects)


def rejected(parsed: Parsed) -> dict[int, str]:
    return dict(zip(parsed.rejects[LINE], parsed.rejects["reason"], strict=True))


def csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


# --- CSV -------------------------------------------------------------------------------------------------


def test_clean_csv_gives_every_row_as_strings_in_the_expected_order() -> None:
    parsed = parse_csv(csv("label,id,text", 'a,1,"hello, world"', "b,2,plain", 'c,3,"say ""hi"""'), COLUMNS)
    assert parsed.rows.columns == [*COLUMNS, LINE]
    assert parsed.rows.rows() == [
        ("1", "hello, world", "a", 2),
        ("2", "plain", "b", 3),
        ("3", 'say "hi"', "c", 4),
    ]
    assert parsed.rejects.is_empty()
    assert (parsed.extra_columns, parsed.missing_columns, parsed.skipped_blank) == ((), (), 0)
    assert accounted(parsed) == [2, 3, 4]


def test_csv_keeps_values_exactly_empty_fields_are_empty_strings() -> None:
    parsed = parse_csv(csv("id,text,label", '1,"",', "2,  spaced  ,x", '3,"a\tb",'), COLUMNS)
    assert parsed.rows["text"].to_list() == ["", "  spaced  ", "a\tb"]
    assert parsed.rows["label"].to_list() == ["", "x", ""]


def test_utf8_bom_is_stripped_from_csv_and_jsonl() -> None:
    parsed = parse_csv(b"\xef\xbb\xbf" + csv("id,text,label", "1,x,a"), COLUMNS)
    assert parsed.missing_columns == ()
    assert parsed.rows.rows() == [("1", "x", "a", 2)]
    lines = parse_jsonl(b'\xef\xbb\xbf{"id": "1"}\n', ["id"])
    assert lines.rows.rows() == [("1", 1)]


def test_crlf_line_endings_are_stripped() -> None:
    parsed = parse_csv(b'id,text,label\r\n1,x,a\r\n2,"y",b\r\n', COLUMNS)
    assert parsed.rows.rows() == [("1", "x", "a", 2), ("2", "y", "b", 3)]


def test_invalid_utf8_line_is_rejected_and_the_others_parse() -> None:
    data = csv("id,text,label", "1,good,a") + b"2,caf\xe9,b\n" + csv("3,also good,c")
    parsed = parse_csv(data, COLUMNS)
    assert parsed.rows["id"].to_list() == ["1", "3"]
    assert parsed.rows[LINE].to_list() == [2, 4]
    assert rejected(parsed) == {3: "invalid_utf8"}
    reject = parsed.rejects.row(0, named=True)
    assert reject["payload"] == "2,caf\\xe9,b"
    assert "e9" in reject["detail"] and "offset 5" in reject["detail"]
    assert accounted(parsed) == [2, 3, 4]


def test_lines_with_the_wrong_number_of_fields_are_malformed() -> None:
    parsed = parse_csv(csv("id,text,label", "1,x,a", "2,too,many,fields", "3,few", "4,y,b"), COLUMNS)
    assert parsed.rows["id"].to_list() == ["1", "4"]
    assert rejected(parsed) == {3: "malformed_line", 4: "malformed_line"}
    details = parsed.rejects["detail"].to_list()
    assert details == ["expected 3 fields as in the header, found 4", "expected 3 fields as in the header, found 2"]
    assert parsed.rejects["payload"].to_list() == ["2,too,many,fields", "3,few"]
    assert accounted(parsed) == [2, 3, 4, 5]


def test_misplaced_quote_is_malformed_but_a_quote_inside_a_literal_field_is_data() -> None:
    parsed = parse_csv(csv("id,text,label", '1,"closed"then more,a', "2,5'11\" tall,b", '3,say "hi" now,c'), COLUMNS)
    assert rejected(parsed) == {2: "malformed_line"}
    assert "misplaced quote" in parsed.rejects["detail"][0]
    assert parsed.rows["text"].to_list() == ["5'11\" tall", 'say "hi" now']
    assert accounted(parsed) == [2, 3, 4]


def test_unterminated_quote_costs_one_line_not_the_rest_of_the_file() -> None:
    data = csv("id,text,label", "1,x,a", '2,"never closed,b', "3,y,c", "4,z,d", '5,"multi', 'line",e', "6,w,f")
    parsed = parse_csv(data, COLUMNS)
    assert rejected(parsed) == {3: "malformed_line"}
    assert "unterminated quote" in parsed.rejects["detail"][0]
    assert parsed.rejects["payload"][0] == '2,"never closed,b'
    assert parsed.rows.rows() == [
        ("1", "x", "a", 2),
        ("3", "y", "c", 4),
        ("4", "z", "d", 5),
        ("5", "multi\nline", "e", 6),
        ("6", "w", "f", 8),
    ]
    assert parsed.records == 6  # 7 data lines, one record spans two


def test_unterminated_quote_on_the_last_line_is_rejected() -> None:
    parsed = parse_csv(csv("id,text,label", "1,x,a", '2,"open to the end,b'), COLUMNS)
    assert parsed.rows["id"].to_list() == ["1"]
    assert rejected(parsed) == {3: "malformed_line"}
    assert "before the end" in parsed.rejects["detail"][0]


def test_quoted_fields_may_span_lines_and_keep_their_line_breaks() -> None:
    data = b'id,text,label\r\n1,"first\r\n\r\nthird ""q""",a\r\n2,x,b\r\n3,"one\r\ntwo",c\r\n'
    parsed = parse_csv(data, COLUMNS)
    assert parsed.rows.rows() == [
        ("1", 'first\r\n\r\nthird "q"', "a", 2),
        ("2", "x", "b", 5),
        ("3", "one\r\ntwo", "c", 6),
    ]
    assert parsed.skipped_blank == 0  # the empty line is inside the quoted field


def test_a_ten_megabyte_field_parses_under_the_default_limit() -> None:
    big = "x" * (10 * MB)
    parsed = parse_csv(csv("id,text,label", f'1,"{big}",a', "2,small,b"), COLUMNS)
    assert parsed.rejects.is_empty()
    assert parsed.rows["text"].str.len_bytes().to_list() == [10 * MB, 5]
    lines = parse_jsonl(json.dumps({"id": "1", "text": big}).encode(), COLUMNS)
    assert lines.rejects.is_empty() and lines.rows["text"].str.len_bytes().to_list() == [10 * MB]


def test_a_field_over_the_limit_is_rejected_field_too_large() -> None:
    data = csv("id,text,label", "1,short,a", f"2,{'é' * 60},b", "3,ok,c")  # 120 bytes, 60 characters
    parsed = parse_csv(data, COLUMNS, max_field_bytes=100)
    assert rejected(parsed) == {3: "field_too_large"}
    assert parsed.rejects["detail"][0] == "column 'text' holds 120 bytes, over the limit of 100 bytes"
    assert parsed.rejects["payload"][0] == f"2,{'é' * 60},b"
    assert parsed.rows["id"].to_list() == ["1", "3"]
    lines = parse_jsonl(b'{"id": "1", "text": "' + b"y" * 101 + b'"}\n{"id": "2"}\n', COLUMNS, max_field_bytes=100)
    assert rejected(lines) == {1: "field_too_large"} and lines.rows["id"].to_list() == ["2"]


def test_field_limit_applies_to_expected_columns_only() -> None:
    parsed = parse_csv(csv("id,text,label,notes", f"1,x,a,{'n' * 500}"), COLUMNS, max_field_bytes=100)
    assert parsed.rejects.is_empty() and parsed.rows.height == 1
    assert parsed.extra_columns == ("notes",)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [("csv", b""), ("csv", b"\xef\xbb\xbf"), ("jsonl", b""), ("jsonl", b"\xef\xbb\xbf"), ("parquet", b"")],
    ids=["csv-zero-byte", "csv-bom-only", "jsonl-zero-byte", "jsonl-bom-only", "parquet-zero-byte"],
)
def test_empty_files_give_zero_rows_and_no_rejects(fmt: Literal["csv", "jsonl", "parquet"], data: bytes) -> None:
    parsed = parse(data, fmt, COLUMNS)
    assert parsed.rows.height == 0 and parsed.rejects.height == 0 and parsed.skipped_blank == 0
    assert parsed.rows.columns == [*COLUMNS, LINE]
    assert parsed.missing_columns == tuple(COLUMNS)


def test_blank_only_files_count_their_lines() -> None:
    assert parse_csv(b"\n\r\n\n", COLUMNS).skipped_blank == 3
    jsonl = parse_jsonl(b"\n  \n\t\r\n", COLUMNS)
    assert (jsonl.rows.height, jsonl.rejects.height, jsonl.skipped_blank) == (0, 0, 3)


@pytest.mark.parametrize("data", [b"id,text,label\n", b"id,text,label", b"\nid,text,label\n\n"])
def test_header_only_csv_gives_zero_rows(data: bytes) -> None:
    parsed = parse_csv(data, COLUMNS)
    assert parsed.rows.height == 0 and parsed.rejects.height == 0
    assert parsed.missing_columns == () and parsed.extra_columns == ()
    assert parsed.rows.columns == [*COLUMNS, LINE]


def test_missing_and_extra_csv_columns_are_reported_not_rejected() -> None:
    parsed = parse_csv(csv("id,notes,text", "1,n1,x", "2,n2,y"), COLUMNS)
    assert parsed.missing_columns == ("label",)
    assert parsed.extra_columns == ("notes",)
    assert parsed.rows.columns == [*COLUMNS, LINE]
    assert parsed.rows["label"].to_list() == [None, None]
    assert parsed.rows["text"].to_list() == ["x", "y"]
    assert parsed.rejects.is_empty()


def test_line_numbers_count_physical_lines_blank_lines_included() -> None:
    data = b'\nid,text,label\n1,x,a\n\n\n2,y,b\n3,"two\nlines",c\n4,z,d'
    parsed = parse_csv(data, COLUMNS)
    assert parsed.rows.select("id", LINE).rows() == [("1", 3), ("2", 6), ("3", 7), ("4", 9)]
    assert parsed.skipped_blank == 3  # line 1 before the header, lines 4 and 5


def test_rows_rejects_and_blank_lines_add_up_to_the_input_lines() -> None:
    good = [f"{i},text {i},a" for i in range(20)]
    bad = ["x,y", '"open,a,b', "1,2,3,4", 'z,"q"r,c']
    lines = [*good[:5], bad[0], "", *good[5:10], bad[1], *good[10:15], bad[2], "", bad[3], *good[15:]]
    data = csv("id,text,label", *lines).replace(b"text 7", b"text \xff")
    parsed = parse_csv(data, COLUMNS)
    assert parsed.rows.height == 19 and parsed.rejects.height == 5 and parsed.skipped_blank == 2
    assert parsed.rows.height + parsed.rejects.height + parsed.skipped_blank == len(lines)
    assert accounted(parsed) == [n + 2 for n, line in enumerate(lines) if line]
    assert sorted(rejected(parsed).values()) == ["invalid_utf8"] + ["malformed_line"] * 4


def test_other_delimiters() -> None:
    parsed = parse_csv(csv("id;text;label", '1;"a;b";x', "2;c,d;y"), COLUMNS, delimiter=";")
    assert parsed.rows["text"].to_list() == ["a;b", "c,d"]
    tabbed = parse_csv(csv("id\ttext\tlabel", "1\tt\tx"), COLUMNS, delimiter="\t")
    assert tabbed.rows.rows() == [("1", "t", "x", 2)]
    with pytest.raises(ValueError, match="delimiter"):
        parse_csv(b"a\n", COLUMNS, delimiter='"')


def test_a_single_column_csv() -> None:
    parsed = parse_csv(csv("text", "a", '"b,c"', "d,e"), ["text"])
    assert parsed.rows["text"].to_list() == ["a", "b,c"]
    assert rejected(parsed) == {4: "malformed_line"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id,te\xffxt,label\n1,x,a\n", "the header.*not valid UTF-8"),
        (b'id,"text,label\n1,x,a\n', "not a well-formed CSV record"),
        (b"id,text,id\n1,x,a\n", "'id' more than once"),
        ("id,text\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_header_problems_raise_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_csv(data, COLUMNS)


def test_expected_columns_are_checked() -> None:
    with pytest.raises(ValueError, match="expected twice"):
        parse_csv(b"", ["a", "a"])
    with pytest.raises(ValueError, match="reserved"):
        parse_jsonl(b"", ["_line"])


# --- JSON Lines ------------------------------------------------------------------------------------------


def test_clean_jsonl() -> None:
    data = b'{"id": "1", "text": "x", "label": "a"}\n{"label": "b", "text": "y", "id": "2"}\n'
    parsed = parse_jsonl(data, COLUMNS)
    assert parsed.rows.rows() == [("1", "x", "a", 1), ("2", "y", "b", 2)]
    assert parsed.rejects.is_empty() and parsed.extra_columns == () and parsed.missing_columns == ()


def test_jsonl_values_are_rendered_as_text_numbers_as_written() -> None:
    record = (
        '{"int": 7, "big": 123456789012345678901234567890, "float": 1.50, "exp": 2E-3, "neg": -0, '
        '"t": true, "f": false, "null": null, "nested": {"a": [1, 1.0, "x\\"y"], "b": {}}, "list": [], '
        '"unicode": "caf\\u00e9 \\ud83d\\ude00"}'
    )
    columns = ["int", "big", "float", "exp", "neg", "t", "f", "null", "nested", "list", "unicode"]
    parsed = parse_jsonl(record.encode(), columns)
    assert parsed.rows.drop(LINE).row(0) == (
        "7",
        "123456789012345678901234567890",
        "1.50",
        "2E-3",
        "-0",
        "true",
        "false",
        None,
        '{"a":[1,1.0,"x\\"y"],"b":{}}',
        "[]",
        "café 😀",
    )


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "an array, not a JSON object"),
        ('"a string"', "a string, not a JSON object"),
        ("42", "a number, not a JSON object"),
        ("null", "null, not a JSON object"),
        ('{"id": "1"} {"id": "2"}', "Extra data"),
        ('{"id": "1", "id": "2"}', "'id' appears twice"),
        ('{"id": NaN}', "NaN is not a JSON value"),
        ('{"id": "\\udc80"}', "unpaired UTF-16 surrogate"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
    ids=["garbage", "array", "string", "number", "null", "two-objects", "duplicate", "nan", "surrogate", "deep"],
)
def test_jsonl_garbage_is_malformed_json_and_the_neighbours_parse(line: str, detail: str) -> None:
    data = f'{{"id": "1"}}\n{line}\n{{"id": "3"}}\n'.encode()
    parsed = parse_jsonl(data, ["id"])
    assert parsed.rows.rows() == [("1", 1), ("3", 3)]
    assert rejected(parsed) == {2: "malformed_json"}
    assert detail in parsed.rejects["detail"][0]
    assert parsed.rejects["payload"][0] == line


def test_jsonl_invalid_utf8_and_blank_lines() -> None:
    data = b'{"id": "1"}\n\n{"id": "caf\xe9"}\n   \n{"id": "3"}'
    parsed = parse_jsonl(data, ["id"])
    assert parsed.rows.rows() == [("1", 1), ("3", 5)]
    assert rejected(parsed) == {3: "invalid_utf8"}
    assert parsed.rejects["payload"][0] == '{"id": "caf\\xe9"}'
    assert parsed.skipped_blank == 2
    assert parsed.records == 5


def test_jsonl_missing_and_extra_keys() -> None:
    data = b'{"id": "1", "extra": 1}\n{"id": "2", "text": "x", "other": [1]}\n'
    parsed = parse_jsonl(data, COLUMNS)
    assert parsed.rows.rows() == [("1", None, None, 1), ("2", "x", None, 2)]
    assert parsed.missing_columns == ("label",)
    assert parsed.extra_columns == ("extra", "other")


# --- Parquet ---------------------------------------------------------------------------------------------


def parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_clean_parquet_renders_typed_values_as_text() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "score": pa.array([0.5, None], pa.float64()),
            "flag": pa.array([True, False]),
            "at": pa.array([datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
            "naive": pa.array([datetime(2026, 1, 2, 3, 4, 5, 600), None], pa.timestamp("us")),
            "day": pa.array([date(2026, 1, 2), None]),
            "tags": pa.array([["a", "b"], None]),
            "price": pa.array([Decimal("1.50"), Decimal("2.00")], pa.decimal128(5, 2)),
            "text": pa.array(["x", "y"]),
        }
    )
    parsed = parse_parquet(parquet(table), table.column_names)
    assert parsed.rows.rows() == [
        ("1", "0.5", "true", "2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05.000600", "2026-01-02", '["a","b"]',
         "1.50", "x", 0),
        ("2", None, "false", None, None, None, None, "2.00", "y", 1),
    ]  # fmt: skip
    assert parsed.rejects.is_empty()


def test_parquet_missing_extra_invalid_binary_and_large_fields() -> None:
    table = pa.table(
        {
            "id": ["1", "2", "3", "4"],
            "text": pa.array([b"ok", b"caf\xe9", b"x" * 200, None], pa.binary()),
            "notes": ["a", "b", "c", "d"],
        }
    )
    parsed = parse_parquet(parquet(table), COLUMNS, max_field_bytes=100)
    assert parsed.missing_columns == ("label",) and parsed.extra_columns == ("notes",)
    assert parsed.rows.rows() == [("1", "ok", None, 0), ("4", None, None, 3)]
    assert rejected(parsed) == {1: "invalid_utf8", 2: "field_too_large"}
    assert json.loads(parsed.rejects["payload"][0]) == {"id": "2", "text": "caf\\xe9"}
    assert accounted(parsed) == [0, 1, 2, 3]


def test_a_file_that_is_not_parquet_raises() -> None:
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        parse_parquet(b"id,text\n1,x\n", COLUMNS)


def test_parse_dispatches_on_the_format() -> None:
    assert parse(csv("id", "7"), "csv", ["id"]).rows["id"].to_list() == ["7"]
    assert parse(b'{"id": 7}', "jsonl", ["id"]).rows["id"].to_list() == ["7"]
    assert parse(parquet(pa.table({"id": [7]})), "parquet", ["id"]).rows["id"].to_list() == ["7"]
    with pytest.raises(ValueError, match="unknown format"):
        parse(b"", "xml", ["id"])  # type: ignore[arg-type]  # the error under test


# --- text rendering --------------------------------------------------------------------------------------


def test_python_values_render_like_typed_columns() -> None:
    aware = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    values: list[object] = [1.5, 1e-7, float("nan"), aware, datetime(2026, 1, 2), date(2026, 1, 2), timedelta(hours=1)]
    typed = [
        pl.Series([1.5, 1e-7, float("nan")]),
        pl.Series([aware]),
        pl.Series([datetime(2026, 1, 2)]),
        pl.Series([date(2026, 1, 2)]),
        pl.Series([timedelta(hours=1)]),
    ]
    assert values_as_text(values).to_list() == [text for s in typed for text in text_column(s).to_list()]
    assert values_as_text(values).to_list()[3] == "2026-01-02T03:04:05.120000+00:00"


def test_python_values_of_every_kind_render_as_text() -> None:
    berlin = datetime(2026, 1, 2, 4, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    values: list[object] = [None, "s", True, 10**30, Decimal("1.50"), berlin, time(1, 2), b"\x00\xff", {"a": [1, None]}]
    assert values_as_text(values).to_list() == [
        None,
        "s",
        "true",
        str(10**30),
        "1.50",
        "2026-01-02T04:00:00+00:00",
        "01:02:00",
        "\\x00ff",
        '{"a":[1,null]}',
    ]


def test_sql_results_as_text() -> None:
    frame = rows_as_text(["a", "b"], [(1, "x"), (None, 2.5)])
    assert frame.rows() == [("1", "x", 0), (None, "2.5", 1)]
    arrow = arrow_as_text(pa.table({"a": [1, None], "b": pa.array([b"\x01", None], pa.binary())}))
    assert arrow.rows() == [("1", "\\x01", 0), (None, None, 1)]
    with pytest.raises(ValueError, match="more than once"):
        rows_as_text(["a", "a"], [])
    with pytest.raises(ValueError, match="reserved"):
        arrow_as_text(pa.table({"_line": [1]}))
