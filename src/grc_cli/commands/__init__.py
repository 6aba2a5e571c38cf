"""One module per topic; each exposes ``register(cli)`` to add its commands to the root group."""
