"""MkDocs hook (mkdocs.yml `hooks:`): the HTTP API page is rendered from the OpenAPI document.

docs/api.md holds the marker `<!-- openapi -->`; at build time it is replaced by the paths,
responses and schemas of src/regflow/openapi.yaml, so the page cannot drift from the document
that `regflow serve` serves at /openapi.yaml and the tests check against real responses
(tests/docs/test_openapi_doc.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "src" / "regflow" / "openapi.yaml"
MARKER = "<!-- openapi -->"
METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = doc
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return _resolve(doc, target)


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    return f"`{schema.get('type', 'any')}`"


def openapi_markdown(doc: dict[str, Any]) -> str:
    """Markdown for every operation, its responses and the schemas of `doc`."""
    out: list[str] = []
    info = doc.get("info", {})
    if info.get("description"):
        out += [str(info["description"]).strip(), ""]
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            out += [f"### {method.upper()} {path}", ""]
            if op.get("summary"):
                out += [f"**{op['summary'].strip()}**", ""]
            if op.get("description"):
                out += [str(op["description"]).strip(), ""]
            for param in op.get("parameters", []):
                required = "required" if param.get("required") else "optional"
                out += [
                    f"- `{param['name']}` ({param['in']}, {required}): "
                    f"{_one_line(param.get('description'))}"
                ]
            if op.get("parameters"):
                out.append("")
            body = op.get("requestBody")
            if body:
                kinds = ", ".join(
                    f"`{kind}` ({_schema_name(media.get('schema', {}))})"
                    for kind, media in body.get("content", {}).items()
                )
                out += [f"Request body: {kinds}.", ""]
            out += ["| status | meaning | headers | body |", "| --- | --- | --- | --- |"]
            for status, response in op.get("responses", {}).items():
                response = _resolve(doc, response)
                headers = ", ".join(f"`{name}`" for name in response.get("headers", {}))
                content = ", ".join(
                    f"`{kind}` {_schema_name(media.get('schema', {}))}"
                    for kind, media in response.get("content", {}).items()
                )
                out.append(
                    f"| `{status}` | {_one_line(response.get('description'))} | "
                    f"{headers or '-'} | {content or '-'} |"
                )
            out.append("")
    schemas = doc.get("components", {}).get("schemas", {})
    if schemas:
        out += ["## Schemas", ""]
    for name, schema in schemas.items():
        out += [
            f"### {name}",
            "",
            "| field | type | required | meaning |",
            "| --- | --- | --- | --- |",
        ]
        required = set(schema.get("required", []))
        for field, prop in schema.get("properties", {}).items():
            kind = prop.get("type", "")
            if prop.get("enum"):
                kind += " (" + ", ".join(f"`{v}`" for v in prop["enum"]) + ")"
            limits = [f"{k} {prop[k]}" for k in ("minLength", "maxLength") if k in prop]
            meaning = _one_line(prop.get("description")) + (
                f" ({', '.join(limits)})" if limits else ""
            )
            out.append(
                f"| `{field}` | {kind} | {'yes' if field in required else 'no'} | {meaning} |"
            )
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    doc = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return markdown.replace(MARKER, openapi_markdown(doc))
