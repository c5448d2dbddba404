"""Alerts: rules over the store, routing, and delivery to receivers."""
