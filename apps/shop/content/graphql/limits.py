"""A complexity limit for GraphQL queries, checked at validation time (before any resolver runs).

The cost of a selection is 1 per field plus, for a field returning a list, the cost of its sub-selection times
the number of items it may return: its ``pagination`` argument's ``pageSize``/``limit`` when given as a literal,
else the default page size. ``articles { author { articles { title } } }`` therefore costs about
25 × (1 + 25 × 1) — a nested list multiplies, which is what makes such queries expensive to serve. Depth is
limited separately (strawberry's ``QueryDepthLimiter``).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

__all__ = ["complexity_rule"]


def _unwrap(kind: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(kind, GraphQLList)
        kind = kind.of_type
    return kind, is_list


def _page_size(node: FieldNode, default: int) -> int:
    for argument in node.arguments or ():
        if argument.name.value == "pagination" and isinstance(argument.value, ObjectValueNode):
            for item in argument.value.fields:
                if item.name.value in ("pageSize", "limit") and isinstance(item.value, IntValueNode):
                    return max(1, int(item.value.value))
    return default


def complexity_rule(max_complexity: int, *, default_page_size: int) -> type[ValidationRule]:
    """A validation rule class refusing operations that cost more than ``max_complexity``."""

    class ComplexityRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._context = context

        def cost(self, selections: SelectionSetNode | None, parent: Any, depth: int = 0) -> int:
            if selections is None or depth > 50:
                return 0
            total = 0
            for selection in selections.selections:
                if isinstance(selection, FieldNode):
                    total += self.field_cost(selection, parent, depth)
                elif isinstance(selection, InlineFragmentNode):
                    total += self.cost(selection.selection_set, parent, depth + 1)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self._context.get_fragment(selection.name.value)
                    if fragment is not None:
                        total += self.cost(fragment.selection_set, parent, depth + 1)
            return total

        def field_cost(self, node: FieldNode, parent: Any, depth: int) -> int:
            definition = parent.fields.get(node.name.value) if isinstance(parent, GraphQLObjectType) else None
            if definition is None:
                return 1
            inner, is_list = _unwrap(definition.type)
            children = self.cost(node.selection_set, inner, depth + 1)
            return 1 + (children * _page_size(node, default_page_size) if is_list else children)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self._context.schema
            root = schema.mutation_type if node.operation.value == "mutation" else schema.query_type
            cost = self.cost(node.selection_set, root)
            if cost > max_complexity:
                self.report_error(
                    GraphQLError(f"Query is too complex: cost {cost} exceeds the limit of {max_complexity}", node)
                )

    return ComplexityRule
