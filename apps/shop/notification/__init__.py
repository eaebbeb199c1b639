"""Notification: e-mails customers when their order is confirmed or cancelled (reacts to order events)."""
