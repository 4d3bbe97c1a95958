"""godeploy.dumps and godeploy.loads: the one JSON writer and reader, exact decimals both ways."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

import godeploy
from godeploy import Links, OrderStatus, Price, dumps, loads, unstructure
from godeploy.models import FeatureSet

SOURCE = Path(godeploy.__file__).parent
_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le")


def test_decimals_are_written_digit_for_digit() -> None:
    data = {"value": Decimal("48.0000"), "tiny": Decimal("1E-30"), "list": [Decimal("-0.10")]}
    assert dumps(data) == '{"value":48.0000,"tiny":1E-30,"list":[-0.10]}'
    assert loads(dumps(data)) == data
    assert str(loads(dumps(data))["value"]) == "48.0000"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_non_finite_numbers_are_refused_both_ways(value: str) -> None:
    with pytest.raises(ValueError, match="not a JSON number"):
        dumps({"value": Decimal(value)})
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps({"value": float(value.lstrip("s"))})
    if value != "sNaN":
        with pytest.raises(ValueError, match="not a JSON value"):
            loads(f'{{"value": {value}}}')


def test_a_string_that_looks_like_a_decimal_mark_stays_a_string() -> None:
    lookalike = "\x000123456789abcdef:0\x00"
    data = {"text": lookalike, "value": Decimal("1.50")}
    assert loads(dumps(data)) == data


def test_models_are_written_by_their_json_keys_without_unset_optionals() -> None:
    feature_set = FeatureSet(
        id=UUID("51f5a1b2-fe23-4a52-b2c1-f0b6d18b5b11"),
        product_id=UUID("38e0b0c1-2a67-4e2b-a5a0-c5e7cb1b46e6"),
        name="Standard",
        course_access_period_days=180,
        module_save_period_days=1,
        prices=[Price(currency="GBP", value=Decimal("48.0000"))],
    )
    text = dumps(feature_set)
    assert text == (
        '{"id":"51f5a1b2-fe23-4a52-b2c1-f0b6d18b5b11",'
        '"productId":"38e0b0c1-2a67-4e2b-a5a0-c5e7cb1b46e6","name":"Standard",'
        '"courseAccessPeriodDays":180,"moduleSavePeriodDays":1,'
        '"prices":[{"currency":"GBP","value":48.0000}]}'
    )
    assert loads(text) == unstructure(feature_set)
    assert dumps([Links(self_="/x"), Links()]) == '[{"self":"/x"},{}]'


def test_date_times_enums_and_text_as_the_api_writes_them() -> None:
    data = {
        "utc": datetime(2023, 4, 21, 12, 49, 24, 761340, tzinfo=UTC),
        "naive": datetime(2019, 2, 24, 20, 4, 30),
        "offset": datetime(2019, 2, 24, 20, 4, 30, tzinfo=timezone(timedelta(hours=-5))),
        "status": OrderStatus("Shipped"),
        "known": OrderStatus.NEW,
        "text": "Zoë ✓",
    }
    assert json.loads(dumps(data)) == {
        "utc": "2023-04-21T12:49:24.761340Z",
        "naive": "2019-02-24T20:04:30Z",
        "offset": "2019-02-24T20:04:30-05:00",
        "status": "Shipped",
        "known": "New",
        "text": "Zoë ✓",
    }
    assert "Zoë ✓" in dumps(data)  # UTF-8 text, not \\u escapes


def test_what_has_no_json_form_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        dumps({"value": object()})
    with pytest.raises(TypeError, match="cannot write set as JSON"):
        unstructure({"value": {1, 2}})


@pytest.mark.parametrize(
    "text",
    ["", "not json", '{"a": 1,', "\ufeff{}", '{"a": 1} trailing', "[" * 100_000],
    ids=["empty", "text", "truncated", "bom", "trailing", "too-deep"],
)
def test_loads_refuses_what_is_not_json_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_loads_reads_bytes_in_any_json_encoding() -> None:
    text = '{"value": 48.0000, "name": "Zoë"}'
    for encoding in ("utf-8", "utf-16", "utf-32"):
        data = loads(text.encode(encoding))
        assert data == {"value": Decimal("48.0000"), "name": "Zoë"}
        assert str(data["value"]) == "48.0000"
    with pytest.raises(TypeError):
        loads(48)  # type: ignore[arg-type]


def _outcome(read: object, body: bytes) -> tuple[str, object]:
    try:
        return "read", read(body)  # type: ignore[operator]
    except ValueError as error:
        return "refused", type(error)


def _reference(body: bytes) -> object:
    return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)


def _no_constant(name: str) -> object:
    raise ValueError(name)


_FIRST_BYTES = [
    b"1",
    b"1\x00",
    b"12",
    b"1\x002",
    b"\x001",
    b"[]",
    b" 1 ",
    b"\xef\xbb\xbf[1]",
    b"\xff\xfe1\x00",
    b"1\x00\x00\x00",
    *(text.encode(encoding) for text in ("[1.50]", "1") for encoding in _ENCODINGS),
]


@pytest.mark.parametrize("body", _FIRST_BYTES)
def test_loads_reads_bytes_as_json_loads_does_whatever_they_start_with(body: bytes) -> None:
    # The encoding of bytes starting with an ASCII character is not detected but known.
    assert _outcome(loads, body) == _outcome(_reference, body)


@given(st.binary(max_size=6))
def test_loads_reads_any_bytes_as_json_loads_does(body: bytes) -> None:
    assert _outcome(loads, body) == _outcome(_reference, body)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.decimals(allow_nan=False, allow_infinity=False),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_random_data_round_trips_exactly(data: object) -> None:
    again = loads(dumps(data))
    assert again == data
    assert dumps(again) == dumps(data)


def test_the_sdk_has_one_json_writer_and_one_reader() -> None:
    """Only godeploy/_json.py writes or parses JSON text with the json module."""
    users = {
        path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*.py")
        if re.search(r"\bjson\.(dumps|loads|JSONDecoder)\b|def (dumps|loads)\b", path.read_text())
    }
    assert users == {"_json.py"}
