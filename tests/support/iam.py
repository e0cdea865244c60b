"""A small IAM model for the least-privilege test.

- `ActionRecorder` hooks botocore clients (`before-parameter-build`) and records every call a
  function makes, as the IAM *requests* AWS would authorize: action, resource ARN and the
  condition keys the call carries. `TransactWriteItems` has no IAM action of its own: each of
  its items is authorized as PutItem / UpdateItem / DeleteItem / ConditionCheckItem.
- `role_statements` reads a function's role from template.yaml and resolves the intrinsic
  functions in it (Ref, GetAtt, Sub, Join) against the resources of the test.
- `is_allowed` / `allowing` evaluate identity-policy Allow statements: action and resource
  wildcards and the condition operators the template uses. Anything else raises, so the model
  can never silently say yes to something it does not understand.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One authorization AWS performs: `action` on `resource`, with condition key values."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    operation: str = ""  # the API call it came from, for messages

    def __hash__(self) -> int:
        return hash((self.action, self.resource, tuple(sorted(self.context.items()))))


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass
class Arns:
    """How to name the resources a call touches."""

    region: str
    account: str
    stream_arn: str | None = None

    def table(self, name: str) -> str:
        if name.startswith("arn:"):
            return name
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def ses_configuration_set(self, name: str) -> str:
        return f"arn:aws:ses:{self.region}:{self.account}:configuration-set/{name}"

    def event_bus(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{name}"

    def ses_identity(self, identity: str) -> str:
        return f"arn:aws:ses:{self.region}:{self.account}:identity/{identity}"


_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
_ITEM_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}
_STREAM_OPERATIONS = {"DescribeStream", "GetShardIterator", "GetRecords"}


def _leading_key(item: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    key = item.get("Key") or item.get("Item") or {}
    pk = key.get("pk", {})
    value = pk.get("S") if isinstance(pk, Mapping) else None
    return {"dynamodb:LeadingKeys": (value,)} if isinstance(value, str) else {}


def requests_for(call: Call, arns: Arns) -> list[Request]:
    """The IAM requests one API call needs. Raises for a call this model does not know, so
    a new kind of call in the code fails the test until it is mapped (and granted)."""
    op, params = call.operation, call.params
    if call.service == "dynamodb" and op == "TransactWriteItems":
        out = []
        for entry in params["TransactItems"]:
            ((kind, item),) = entry.items()
            out.append(
                Request(
                    _ITEM_ACTIONS[kind],
                    arns.table(item["TableName"]),
                    _leading_key(item),
                    operation=f"TransactWriteItems/{kind}",
                )
            )
        return out
    if call.service == "dynamodb" and op in _ITEM_OPERATIONS:
        return [
            Request(f"dynamodb:{op}", arns.table(params["TableName"]), _leading_key(params), op)
        ]
    if call.service == "dynamodb" and op == "Scan":
        return [Request("dynamodb:Scan", arns.table(params["TableName"]), operation=op)]
    if call.service == "dynamodb" and op == "Query":
        # on the index when it names one (a Query of the table itself has its own resource)
        resource = arns.table(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return [Request("dynamodb:Query", resource, operation=op)]
    if call.service == "dynamodb-streams" and op in _STREAM_OPERATIONS:
        stream = params.get("StreamArn") or arns.stream_arn
        assert stream, "GetRecords names no stream: give Arns.stream_arn"
        return [Request(f"dynamodb:{op}", stream, operation=op)]
    if call.service == "dynamodb-streams" and op == "ListStreams":
        return [Request("dynamodb:ListStreams", "*", operation=op)]
    if call.service == "secrets-manager" and op == "GetSecretValue":
        return [Request("secretsmanager:GetSecretValue", params["SecretId"], operation=op)]
    if call.service == "sesv2" and op == "SendEmail":
        sender = _address(params["FromEmailAddress"])
        recipients = [_address(a) for a in params.get("Destination", {}).get("ToAddresses", [])]
        # SES v2 SendEmail is authorized as ses:SendEmail, and for Raw content also as
        # ses:SendRawEmail (the v1 action its error messages name); on the sending identity
        # (address or domain) and, in the sandbox, on each recipient's identity.
        actions = ["ses:SendEmail"]
        if "Raw" in params.get("Content", {}):
            actions.append("ses:SendRawEmail")
        identities = [sender, sender.rsplit("@", 1)[1], *recipients]
        context = {"ses:FromAddress": (sender,), "ses:Recipients": tuple(recipients)}
        resources = [arns.ses_identity(identity) for identity in identities]
        if params.get("ConfigurationSetName"):  # authorized on the configuration set too
            resources.append(arns.ses_configuration_set(params["ConfigurationSetName"]))
        return [
            Request(action, resource, context, operation=op)
            for action in actions
            for resource in resources
        ]
    if call.service == "eventbridge" and op == "PutEvents":
        # authorized per entry, on its bus, with the entry's source as events:source
        out = []
        for entry in params["Entries"]:
            bus = entry.get("EventBusName") or "default"
            resource = bus if bus.startswith("arn:") else arns.event_bus(bus)
            context = {
                "events:source": (entry["Source"],),
                "events:detail-type": (entry["DetailType"],),
            }
            out.append(Request("events:PutEvents", resource, context, operation=op))
        return out
    if call.service == "sqs" and op == "SendMessage":
        return [Request("sqs:SendMessage", params["QueueUrl"], operation=op)]
    raise NotImplementedError(f"no IAM mapping for {call.service}.{op}: add one")


def _address(text: str) -> str:
    match = re.search(r"<([^>]+)>", text)
    return (match.group(1) if match else text).strip().lower()


# --- recording ------------------------------------------------------------------------------

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("iam_acting", default=None)


class ActionRecorder:
    """Records every call made through the hooked clients, attributed to the function whose
    code is running (`with recorder.acting_as("RegistrationHandler"): ...`). A call made
    outside `acting_as` is an error: nothing escapes attribution."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.unattributed: list[str] = []

    def hook(self, client: Any, *, as_function: str | None = None) -> None:
        """Record `client`'s calls; `as_function` pins them to one function (e.g. the stream
        reads the Lambda service performs with the mail sender's role)."""
        service = client.meta.service_model.service_id.hyphenize()

        def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
            function = as_function or _acting.get()
            if function is None:
                self.unattributed.append(f"{service}.{model.name}")
                return
            self.calls.append(Call(function, service, model.name, dict(params)))

        client.meta.events.register("before-parameter-build", record)

    @contextlib.contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        token = _acting.set(function)
        try:
            yield
        finally:
            _acting.reset(token)

    def requests(self, arns: Arns) -> dict[str, list[Request]]:
        out: dict[str, list[Request]] = {}
        for call in self.calls:
            out.setdefault(call.function, []).extend(requests_for(call, arns))
        return out


# --- the template's policies ----------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]


def resolve(value: Any, refs: Mapping[str, Any]) -> Any:
    """Resolve CloudFormation intrinsics (as loaded by tests.support.aws.load_template)."""
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return refs[arg]
        if key == "Fn::GetAtt":
            name = ".".join(arg) if isinstance(arg, list) else arg
            return refs[name]
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            local = {**refs, **{k: resolve(v, refs) for k, v in extra.items()}}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(local[m.group(1)]), text)
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(p) for p in resolve(parts, refs))
        if key.startswith("Fn::") or key == "Condition":
            raise NotImplementedError(f"intrinsic {key} in a policy: teach resolve() it")
    return {k: resolve(v, refs) for k, v in value.items()}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def function_role(template: Mapping[str, Any], function: str) -> Mapping[str, Any]:
    resources = template["Resources"]
    role_ref = resources[function]["Properties"]["Role"]
    assert "Fn::GetAtt" in role_ref, f"{function}'s Role is not a role of this template"
    role_id = role_ref["Fn::GetAtt"][0]
    role = resources[role_id]
    assert role["Type"] == "AWS::IAM::Role"
    props: Mapping[str, Any] = role["Properties"]
    return props


def role_statements(
    template: Mapping[str, Any], function: str, refs: Mapping[str, Any]
) -> list[Statement]:
    """Every Allow statement of `function`'s role, resolved. Asserts the role has no managed
    policies, no Deny/NotAction/NotResource (this model does not evaluate those)."""
    role = function_role(template, function)
    assert not role.get("ManagedPolicyArns"), f"{function}: managed policies attached"
    assert not role.get("PermissionsBoundary"), f"{function}: boundary not modelled"
    out = []
    for policy in role.get("Policies", []):
        for raw in resolve(policy["PolicyDocument"], refs)["Statement"]:
            assert raw["Effect"] == "Allow", f"{function}: only Allow statements are modelled"
            assert "NotAction" not in raw and "NotResource" not in raw
            conditions = {
                op: {key: _strings(v) for key, v in keys.items()}
                for op, keys in (raw.get("Condition") or {}).items()
            }
            out.append(
                Statement(
                    sid=raw.get("Sid", ""),
                    actions=_strings(raw["Action"]),
                    resources=_strings(raw["Resource"]),
                    conditions=conditions,
                )
            )
    return out


# --- evaluation -----------------------------------------------------------------------------


def wildcard(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """IAM's `*` and `?` wildcards (nothing else is special)."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if ignore_case else 0) is not None


_OPERATORS = {"StringEquals", "StringEqualsIgnoreCase", "StringLike"}


def _condition_holds(op: str, key: str, wanted: tuple[str, ...], request: Request) -> bool:
    if op.rsplit(":", 1)[-1] not in _OPERATORS:
        raise NotImplementedError(f"condition operator {op}: teach the model")
    values = request.context.get(key)
    if op.startswith("ForAllValues:"):
        # IAM: true when every request value matches one of `wanted` (vacuously when none).
        inner = op.split(":", 1)[1]
        return all(_match(inner, wanted, v) for v in values or ())
    if op.startswith("ForAnyValue:"):
        inner = op.split(":", 1)[1]
        return any(_match(inner, wanted, v) for v in values or ())
    if not values:
        return False  # a plain operator on an absent key does not match
    return all(_match(op, wanted, v) for v in values)


def _match(op: str, wanted: tuple[str, ...], value: str) -> bool:
    if op == "StringEquals":
        return value in wanted
    if op == "StringEqualsIgnoreCase":
        return value.casefold() in {w.casefold() for w in wanted}
    if op == "StringLike":
        return any(wildcard(w, value) for w in wanted)
    raise NotImplementedError(f"condition operator {op}: teach the model")


def statement_allows(statement: Statement, request: Request) -> bool:
    if not any(wildcard(a, request.action, ignore_case=True) for a in statement.actions):
        return False
    if not any(wildcard(r, request.resource) for r in statement.resources):
        return False
    return all(
        _condition_holds(op, key, wanted, request)
        for op, keys in statement.conditions.items()
        for key, wanted in keys.items()
    )


def allowing(statements: Sequence[Statement], request: Request) -> list[Statement]:
    return [s for s in statements if statement_allows(s, request)]


def is_allowed(statements: Sequence[Statement], request: Request) -> bool:
    return bool(allowing(statements, request))
