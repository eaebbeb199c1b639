"""The inventory service: stock per product and reservations with a time to live."""
