"""The mail sink: a local SMTP server (aiosmtpd) that keeps every message it receives, viewable in a page."""
