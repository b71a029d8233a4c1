"""The CouchQueue server: settings, transports (REST, GraphQL), storage backends and the CLI."""
