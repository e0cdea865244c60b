"""docs/aws.md "Try it", step by step under moto with the queries exactly as the page prints
them: the stack's table, the real handlers, the mail sender fed from the stream. The AWS CLI
applies `--query` (JMESPath) to the same response boto3's `scan` returns."""

from __future__ import annotations

import re
import shlex

import jmespath

from tests.docs.support import DOCS, code_blocks, commands
from tests.support.aws import TOKEN_RE, aws_stack
from tests.support.events import http_event, json_post


def scan_queries() -> list[str]:
    out = []
    for block in code_blocks(DOCS / "aws.md"):
        for command in commands(block):
            words = shlex.split(command)
            if words[:3] == ["aws", "dynamodb", "scan"]:
                out.append(words[words.index("--query") + 1])
    return out


def test_the_checklist_queries_show_what_the_page_says() -> None:
    pending_query, confirmed_query = scan_queries()
    with aws_stack() as stack:
        answer = stack.register(json_post("/register", {"name": "Jane", "email": "j@example.com"}))
        assert answer["statusCode"] == 202

        def scan() -> dict[str, object]:
            return dict(stack.dynamodb.scan(TableName=stack.table_name, ConsistentRead=True))

        # 2. a PENDING item at once
        (item,) = jmespath.search(pending_query, scan())
        assert item["status"]["S"] == "PENDING" and "ttl" in item
        # 3. the verification mail, sent by the mail sender from the stream
        stack.pump()
        (mail,) = stack.mail()
        token = re.search(TOKEN_RE, mail.text)
        assert token is not None
        # 4. the click: CONFIRMED, confirmedAt, no ttl
        stack.confirm(http_event("GET", "/confirm", query={"token": token.group(1)}))
        assert jmespath.search(confirmed_query, scan()) == [
            ["Jane", jmespath.search(pending_query, scan())[0]["confirmedAt"]["S"]]
        ]
        (confirmed,) = jmespath.search(pending_query, scan())
        assert confirmed["status"]["S"] == "CONFIRMED" and "ttl" not in confirmed
