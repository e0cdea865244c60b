"""A small builder for DynamoDB update and condition expressions.

Every attribute is referred to by a name placeholder (`#attr`, so reserved words such as
`count`, `ttl`, `status`, `name` or `language` need no special care) and every value by a
named value placeholder (`:name`, chosen by the caller so that requests stay readable):

    e = Expression()
    e.set("lastAt", e.value("now", n(now)))
    e.add("count", e.value("one", n(1)))
    e.condition(any_of(e.not_exists("pk"), e.compare("lastAt", "<=", "cutoff", n(cutoff))))
    request = {"Key": ..., **e.params()}
"""

from __future__ import annotations

from typing import Any


def all_of(*clauses: str) -> str:
    """`a AND b AND ...` (each clause parenthesised when it is itself an OR)."""
    parts = [_group(c) if " OR " in c else c for c in clauses if c]
    return " AND ".join(parts)


def any_of(*clauses: str) -> str:
    """`a OR (b AND c) ...`: conjunctions are parenthesised."""
    parts = [_group(c) if " AND " in c or " OR " in c else c for c in clauses if c]
    return " OR ".join(parts)


def _group(clause: str) -> str:
    return f"({clause})"


class Expression:
    """Collects the SET / ADD / REMOVE clauses, the condition and their placeholders."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, Any] = {}
        self._set: list[str] = []
        self._add: list[str] = []
        self._remove: list[str] = []
        self._condition = ""

    # --- placeholders ------------------------------------------------------------------------

    def name(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self._names[placeholder] = attribute
        return placeholder

    def value(self, name: str, value: Any) -> str:
        """`:name` for `value` (a low-level attribute value); one name, one value."""
        placeholder = f":{name}"
        if self._values.get(placeholder, value) != value:
            raise ValueError(f"{placeholder} already stands for another value")
        self._values[placeholder] = value
        return placeholder

    # --- condition parts ---------------------------------------------------------------------

    def exists(self, attribute: str) -> str:
        return f"attribute_exists({self.name(attribute)})"

    def not_exists(self, attribute: str) -> str:
        return f"attribute_not_exists({self.name(attribute)})"

    def compare(self, attribute: str, op: str, value_name: str, value: Any) -> str:
        return f"{self.name(attribute)} {op} {self.value(value_name, value)}"

    def begins_with(self, attribute: str, value_name: str, prefix: str) -> str:
        return f"begins_with({self.name(attribute)}, {self.value(value_name, {'S': prefix})})"

    def size_below(self, attribute: str, value_name: str, value: Any) -> str:
        return f"size({self.name(attribute)}) < {self.value(value_name, value)}"

    def condition(self, clause: str) -> Expression:
        self._condition = clause
        return self

    # --- update clauses ----------------------------------------------------------------------

    def set(self, attribute: str, expression: str) -> Expression:
        """`SET #attribute = expression` (`expression` is built with this builder's
        placeholders: a value, `if_not_exists(...)`, `list_append(...)`)."""
        self._set.append(f"{self.name(attribute)} = {expression}")
        return self

    def set_value(self, attribute: str, value_name: str, value: Any) -> Expression:
        return self.set(attribute, self.value(value_name, value))

    def if_not_exists(self, attribute: str, value_placeholder: str) -> str:
        return f"if_not_exists({self.name(attribute)}, {value_placeholder})"

    def add(self, attribute: str, value_placeholder: str) -> Expression:
        self._add.append(f"{self.name(attribute)} {value_placeholder}")
        return self

    def remove(self, *attributes: str) -> Expression:
        self._remove.extend(self.name(a) for a in attributes)
        return self

    # --- the result --------------------------------------------------------------------------

    @property
    def update_expression(self) -> str:
        clauses = []
        if self._set:
            clauses.append("SET " + ", ".join(self._set))
        if self._add:
            clauses.append("ADD " + ", ".join(self._add))
        if self._remove:
            clauses.append("REMOVE " + ", ".join(self._remove))
        return " ".join(clauses)

    @property
    def condition_expression(self) -> str:
        return self._condition

    def params(self, condition_key: str = "ConditionExpression") -> dict[str, Any]:
        """The request parameters: UpdateExpression, the condition (as `condition_key`:
        a Scan's is "FilterExpression") and the placeholders (each only when there is one)."""
        out: dict[str, Any] = {}
        if self.update_expression:
            out["UpdateExpression"] = self.update_expression
        if self._condition:
            out[condition_key] = self._condition
        if self._names:
            out["ExpressionAttributeNames"] = dict(self._names)
        if self._values:
            out["ExpressionAttributeValues"] = dict(self._values)
        return out
