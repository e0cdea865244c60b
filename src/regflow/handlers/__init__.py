"""AWS Lambda entry points: one thin module per function (template.yaml `Handler:`).

Each imports only what its path needs; the service behind it is built once per process by
`regflow.aws`."""
