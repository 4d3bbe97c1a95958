"""Codegen: the committed models are what `make codegen` makes of the spec, every time, and have the
shape the SDK relies on. Three generator runs in all (module-scoped fixtures)."""

from __future__ import annotations

import ast
import difflib
import sys
import typing
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import attrs
import pytest
import yaml

import codegen
from codegen import load_module
from godeploy._converter import structure, unstructure
from tests._support.reference_examples import ROOT, SPEC_PATH

COMMITTED = ROOT / "src" / "godeploy" / "_generated" / "models.py"
PACKAGE = ROOT / "src" / "godeploy"


def assert_golden(committed_path: Path, generated: str) -> None:
    """Assert that a committed generated module is what codegen makes now, showing the diff."""
    name = committed_path.relative_to(ROOT).as_posix()
    diff = "".join(
        difflib.unified_diff(
            committed_path.read_text(encoding="utf-8").splitlines(keepends=True),
            generated.splitlines(keepends=True),
            f"{name} (committed)",
            "generated now",
        )
    )
    assert not diff, f"{name} is stale: run `make codegen`\n" + diff


EXTENDED_ORDER = {
    "id": 1,
    "businessUnitId": "0bb7a818-cecb-4c5a-9822-22e62f85589a",
    "createdByUserId": "8ed28eef-a8a6-4f29-8723-6d759746b141",
    "orderSourceId": "41ff59ab-a364-4c01-a92f-2271d709a1f1",
    "purchasingOrderReference": "423432432",
    "orderStatus": "Cancelled",
    "created": "2019-02-24T20:04:30.473Z",
    "editable": False,
    "cancellable": False,
    "vatNumber": "GB123456789",
}
"""An order of the extended spec (run 3), with the added property."""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ModuleType]]:
    """Generate from the committed spec into a temporary folder (run 1 of 3)."""
    output = tmp_path_factory.mktemp("first") / "models.py"
    code = codegen.generate_models(SPEC_PATH, output)
    assert output.read_text(encoding="utf-8") == code
    yield code, load_module(output, "_codegen_test_first_run")
    del sys.modules["_codegen_test_first_run"]


@pytest.fixture(scope="module")
def second_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Generate from the committed spec again (run 2 of 3)."""
    return codegen.generate_models(SPEC_PATH, tmp_path_factory.mktemp("second") / "models.py")


@pytest.fixture(scope="module")
def extended_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ModuleType]]:
    """Generate from a copy of the spec whose Order has one more property (run 3 of 3)."""
    folder = tmp_path_factory.mktemp("extended")
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    spec["components"]["schemas"]["Order"]["properties"]["vatNumber"] = {"type": "string"}
    spec_copy = folder / "orders-v2.yaml"
    spec_copy.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    code = codegen.generate_models(spec_copy, folder / "models.py")
    yield code, load_module(folder / "models.py", "_codegen_test_extended_run")
    del sys.modules["_codegen_test_extended_run"]


@pytest.fixture(scope="module")
def generated(first_run: tuple[str, ModuleType]) -> ModuleType:
    return first_run[1]


def model_classes(module: ModuleType) -> dict[str, type[Any]]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__
    }


# -- golden, determinism, header -----------------------------------------------------------------


def test_committed_models_are_what_codegen_makes(first_run: tuple[str, ModuleType]) -> None:
    assert_golden(COMMITTED, first_run[0])


def test_generation_is_deterministic(first_run: tuple[str, ModuleType], second_run: str) -> None:
    assert first_run[0] == second_run


def test_first_line_says_generated_and_how(first_run: tuple[str, ModuleType]) -> None:
    first_line = first_run[0].splitlines()[0]
    assert first_line.startswith("# GENERATED")
    assert "`make codegen`" in first_line
    assert "do not edit" in first_line
    assert COMMITTED.read_text(encoding="utf-8").splitlines()[0] == first_line


def test_output_is_formatted_and_stamp_free(first_run: tuple[str, ModuleType]) -> None:
    code = first_run[0]
    assert "timestamp" not in code.lower()
    assert "dataclass" not in code
    ast.parse(code)
    assert code.endswith("\n")
    assert not code.endswith("\n\n")


# -- adding a property to the spec ---------------------------------------------------------------


def test_a_new_property_becomes_an_attribute(
    first_run: tuple[str, ModuleType], extended_run: tuple[str, ModuleType]
) -> None:
    code, module = extended_run
    field = attrs.fields_dict(module.Order)["vat_number"]
    assert field.metadata == {"json": "vatNumber"}
    assert field.default is None
    assert typing.get_type_hints(module.Order)["vat_number"] == str | None
    # Nothing else changed.
    added = [
        line
        for line in difflib.ndiff(first_run[0].splitlines(), code.splitlines())
        if line.startswith(("+ ", "- "))
    ]
    assert added == [
        '+     vat_number: str | None = field(default=None, metadata={"json": "vatNumber"})'
    ]


def test_the_converter_reads_and_writes_the_new_property(
    extended_run: tuple[str, ModuleType],
) -> None:
    order = EXTENDED_ORDER
    decoded = structure(order, extended_run[1].Order)
    assert decoded.vat_number == "GB123456789"
    assert unstructure(decoded)["vatNumber"] == "GB123456789"


# -- the shape of the generated classes ----------------------------------------------------------


@attrs.frozen
class _Frozen:
    """A frozen attrs class, to compare the generated classes' __setattr__ with."""


def test_every_class_is_a_frozen_kw_only_slotted_attrs_class_or_an_enum(
    generated: ModuleType,
) -> None:
    classes = model_classes(generated)
    assert len(classes) == 18
    for name, cls in classes.items():
        if issubclass(cls, StrEnum):
            continue
        assert attrs.has(cls), name
        assert cls.__setattr__ is _Frozen.__setattr__, f"{name} is not frozen"
        assert all(a.kw_only for a in attrs.fields(cls)), name
        assert "__slots__" in vars(cls), name


def test_instances_refuse_changes_and_positional_arguments(generated: ModuleType) -> None:
    links = generated.Links(self_="/api/v2/orders/1")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        links.next = "/api/v2/orders?_page=2"
    with pytest.raises(TypeError):
        generated.Price("GBP", Decimal("48.0000"))


def test_links_self_is_self_underscore(generated: ModuleType) -> None:
    fields = attrs.fields_dict(generated.Links)
    assert "self" not in fields
    assert fields["self_"].metadata == {"json": "self"}
    assert "next" in fields
    assert unstructure(generated.Links(self_="/x")) == {"self": "/x"}


@pytest.mark.parametrize(
    ("model", "attribute", "expected"),
    [
        ("Price", "value", Decimal),
        ("Product", "id", UUID),
        ("FeatureSet", "id", UUID),
        ("FeatureSet", "product_id", UUID),
        ("Order", "id", int),
        ("Order", "business_unit_id", UUID),
        ("Order", "created_by_user_id", UUID),
        ("Order", "order_source_id", UUID),
        ("Order", "created", datetime),
        ("OrderItem", "id", int),
        ("OrderItem", "order_id", int),
        ("OrderItem", "feature_set_id", UUID),
        # The reference's example request sends the placeholder "feature set id".
        ("CreateOrderItem", "feature_set_id", str),
        ("PageInfo", "page_count", int),
        ("Order", "editable", bool),
    ],
)
def test_attribute_types(generated: ModuleType, model: str, attribute: str, expected: type) -> None:
    assert typing.get_type_hints(getattr(generated, model))[attribute] is expected


def test_no_attribute_is_a_binary_float(generated: ModuleType) -> None:
    for name, cls in model_classes(generated).items():
        if attrs.has(cls):
            hints = typing.get_type_hints(cls)
            assert not [a for a, hint in hints.items() if "float" in str(hint)], name


def test_order_status_is_an_open_enum(generated: ModuleType) -> None:
    status = generated.OrderStatus
    assert issubclass(status, StrEnum)
    assert {member.value for member in status} == {"New", "Cancelled"}
    assert status("New") == "New"
    assert status("New") in set(status)
    shipped = status("Shipped")
    assert isinstance(shipped, status)
    assert shipped == "Shipped"
    assert shipped.value == "Shipped"
    assert str(shipped) == "Shipped"
    with pytest.raises(ValueError, match="5"):
        status(5)
    assert typing.get_type_hints(generated.Order)["order_status"] is status


# -- hand-written code does not shadow the generated models --------------------------------------


def class_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def test_no_hand_written_class_repeats_a_generated_name() -> None:
    generated_names = class_names(COMMITTED)
    assert {"Order", "Links", "OrderStatus", "ProblemDetails"} <= generated_names
    hand_written = [
        path
        for path in PACKAGE.rglob("*.py")
        if "_generated" not in path.relative_to(PACKAGE).parts
    ]
    assert PACKAGE / "_converter.py" in hand_written
    clashes = {
        f"{path.relative_to(ROOT)}: class {name}"
        for path in hand_written
        for name in class_names(path) & generated_names
    }
    assert not clashes


# -- the decoders: generated from the models, golden like them -----------------------------------

COMMITTED_DECODERS = ROOT / "src" / "godeploy" / "_generated" / "decoders.py"


@pytest.fixture(scope="module")
def decoders_text(
    tmp_path_factory: pytest.TempPathFactory, first_run: tuple[str, ModuleType]
) -> str:
    return codegen.generate_decoders(
        first_run[1], tmp_path_factory.mktemp("decoders") / "decoders.py"
    )


def test_committed_decoders_are_what_codegen_makes(decoders_text: str) -> None:
    assert_golden(COMMITTED_DECODERS, decoders_text)


@pytest.mark.parametrize("name", ["models.py", "decoders.py", "operations.py"])
def test_every_generated_module_says_so_on_its_first_line(name: str) -> None:
    first_line = (COMMITTED.parent / name).read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("# GENERATED")
    assert "`make codegen`" in first_line
    assert "do not edit" in first_line


def test_decoders_use_no_exec_and_cover_every_model(
    decoders_text: str, generated: ModuleType
) -> None:
    tree = ast.parse(decoders_text)
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"exec", "eval", "compile"}
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    models_with_attrs = {name for name, cl in model_classes(generated).items() if attrs.has(cl)}
    assert {f"structure_{name}" for name in models_with_attrs} <= defined


def test_a_new_property_is_decoded_by_the_new_decoders(
    extended_run: tuple[str, ModuleType], tmp_path: Path
) -> None:
    """Decoders generated from the extended models read the new key (and only through them)."""
    code = codegen.generate_decoders(extended_run[1], tmp_path / "decoders.py")
    assert 'o.get("vatNumber")' in code
    from cattrs import Converter

    from godeploy._converter import configure_converter

    # The decoders module imports the committed models; this copy imports the extended ones.
    source = code.replace(
        "from godeploy._generated import models", "import _codegen_test_extended_run as models"
    )
    (tmp_path / "extended_decoders.py").write_text(source, encoding="utf-8")
    module = load_module(tmp_path / "extended_decoders.py", "_codegen_test_extended_decoders")
    del sys.modules["_codegen_test_extended_decoders"]
    decoders = module.make_decoders(configure_converter(Converter()).get_structure_hook)
    order = EXTENDED_ORDER
    assert decoders[extended_run[1].Order](order).vat_number == "GB123456789"
    with pytest.raises(TypeError):
        decoders[extended_run[1].Order]({**order, "vatNumber": 5})


HAND_MODELS = """
from __future__ import annotations

from attrs import define, field, validators


@define(frozen=True, kw_only=True)
class Plain:
    name: str
    count: int | None = None


@define(frozen=True, kw_only=True)
class Checked:
    count: int = field(validator=validators.ge(0))


@define(frozen=True, kw_only=True)
class AfterInit:
    name: str
    seen: list[str] = field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self.seen.append(self.name)
"""


def test_a_decoder_calls_init_unless_setting_the_slots_does_all_it_does(tmp_path: Path) -> None:
    """Validators and __attrs_post_init__ run: those models are built through __init__."""
    (tmp_path / "hand_models.py").write_text(HAND_MODELS, encoding="utf-8")
    hand = load_module(tmp_path / "hand_models.py", "_codegen_test_hand_models")
    try:
        code = codegen.generate_decoders(hand, tmp_path / "decoders.py")
    finally:
        del sys.modules["_codegen_test_hand_models"]
    assert "m = new(models.Plain)" in code
    assert "return models.Checked(count=a0)" in code
    assert "return models.AfterInit(name=a0)" in code
