"""Adapters: the real implementations of the ports (DynamoDB, SQLite, SES, SMTP, mailbox)."""
