"""The JSON API controllers, one per resource; each handler calls the service or a query and converts."""
