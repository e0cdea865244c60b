"""The operator's tools: `regflow redrive` (AWS) and friends."""
