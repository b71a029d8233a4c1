"""``python -m couchqueue_client --queues q --exec CMD``: the command worker, for installs that
have the client alone."""

from couchqueue_client.command import main_standalone

raise SystemExit(main_standalone())
