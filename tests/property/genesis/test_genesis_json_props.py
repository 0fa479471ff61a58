"""Properties of the genesis JSON checker (``abci_app.modules.genesis_json.check_json``).

It reads the genesis protos' descriptors, so it must agree with protobuf's JSON parser: every
well-typed document passes (in proto or JSON field names), nothing it passes is refused by
``json_format.ParseDict``, and no JSON value makes it raise.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.modules.genesis_json import _INTEGERS, check_json, descriptor_of, genesis_json
from abci_app.node.genesis import genesis_types

TYPES = genesis_types()
SECTIONS = sorted(TYPES)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in _INTEGERS:
        _, low, high = _INTEGERS[field.type]
        return st.integers(low, high).flatmap(lambda n: st.sampled_from([n, str(n)]))
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=6)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=9).flatmap(
            lambda b: st.sampled_from([base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode()])
        )
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return st.sampled_from(
            [v.name for v in field.enum_type.values] + [v.number for v in field.enum_type.values]
        )
    raise AssertionError(f"no strategy for {field.full_name}")


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        key, value = message.fields_by_name["key"], message.fields_by_name["value"]
        keys = _scalar(key).map(str)
        return st.dictionaries(keys, _value(value, depth), max_size=2)
    one = documents(message, depth - 1) if message is not None else _scalar(field)
    return st.lists(one, max_size=2) if field.is_repeated else one


def documents(descriptor: Descriptor, depth: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """Well-typed JSON documents of ``descriptor``, each field under its proto or JSON name or absent."""
    if depth <= 0:
        return st.just({})
    fields = {f.name: f for f in descriptor.fields}
    return st.fixed_dictionaries(
        {},
        optional={name: st.tuples(st.booleans(), _value(f, depth)) for name, f in fields.items()},
    ).map(lambda chosen: {(fields[n].json_name if camel else n): v for n, (camel, v) in chosen.items()})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SECTIONS).flatmap(lambda s: st.tuples(st.just(s), documents(descriptor_of(TYPES[s])))))
def test_every_well_typed_document_passes_and_parses(case: tuple[str, dict[str, Any]]) -> None:
    section, document = case
    assert check_json(document, descriptor_of(TYPES[section]), section) == []
    message = json_format.ParseDict(document, TYPES[section](), ignore_unknown_fields=False)
    assert check_json(genesis_json(message), descriptor_of(TYPES[section]), section) == []


def _field_names(descriptor: Descriptor, depth: int = 3) -> list[str]:
    names = [f.name for f in descriptor.fields] + [f.json_name for f in descriptor.fields]
    if depth > 0:
        for f in descriptor.fields:
            if f.message_type is not None:
                names += _field_names(f.message_type, depth - 1)
    return sorted(set(names))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_whatever_the_checker_passes_protobuf_parses_and_no_value_makes_it_raise(data: st.DataObject) -> None:
    section = data.draw(st.sampled_from(SECTIONS))
    descriptor = descriptor_of(TYPES[section])
    names = st.sampled_from(_field_names(descriptor))
    mutant = st.recursive(
        json_values,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
        max_leaves=16,
    )
    document = data.draw(st.dictionaries(names, mutant, max_size=4))
    if not check_json(document, descriptor, section):
        json_format.ParseDict(document, TYPES[section](), ignore_unknown_fields=False)
