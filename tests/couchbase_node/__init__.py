"""A minimal Couchbase KV node for testing the real Couchbase SDK without a Couchbase Server.

Run it in its own process (`python -m tests.couchbase_node`, or `start_node` / `running_node`
from tests.couchbase_node.launcher): the SDK's C++ core may abort its process on a bad reply.
"""
