"""The embedded mode: local gateway, outbox worker and `regflow serve`."""
