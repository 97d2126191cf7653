"""Tickets: models, the service that owns every change, rules, SLA and stats."""
