"""The CouchQueue engine: every queue rule, once, independent of transport and storage.

Nothing in this package imports ``app`` or ``schema``: the rules can be read, tested and reused
without a web server or a database driver. Storage is reached only through
:class:`resolvers.store.Store`.
"""
