"""Helpers only the shop's services share (what every Baton service would need belongs in ``baton.kit``)."""
