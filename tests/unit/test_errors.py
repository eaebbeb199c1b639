"""The error tree: one root, retryability as a class attribute, manifest errors that point at a line."""

from __future__ import annotations

import inspect

import pytest

import baton.errors as errors


def all_error_classes() -> list[type[errors.BatonError]]:
    return [
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]


def test_every_error_hangs_from_the_root_and_documents_when_it_is_raised() -> None:
    for cls in all_error_classes():
        assert issubclass(cls, errors.BatonError), cls
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"


def test_the_tree_drawn_in_the_module_docstring_names_every_class() -> None:
    doc = errors.__doc__ or ""
    missing = [cls.__name__ for cls in all_error_classes() if cls.__name__ not in doc]
    assert missing == []


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (errors.BatonError, False),
        (errors.BrokerUnavailable, True),
        (errors.CallTimeout, True),
        (errors.UpstreamUnavailable, True),
        (errors.UpstreamRejected, False),
        (errors.CircuitOpen, False),
        (errors.DeadlineExceeded, False),
    ],
)
def test_retryability_is_a_class_attribute(cls: type[errors.BatonError], retryable: bool) -> None:
    assert cls.retryable is retryable
    assert cls("x").retryable is retryable


def test_manifest_error_names_file_line_field_and_hint() -> None:
    err = errors.ManifestError(
        "unknown key", file="baton.yaml", line=12, field="services.order.replica", hint="replicas"
    )
    assert str(err) == "baton.yaml:12: services.order.replica: unknown key (hint: replicas)"
    assert (err.file, err.line, err.field) == ("baton.yaml", 12, "services.order.replica")
