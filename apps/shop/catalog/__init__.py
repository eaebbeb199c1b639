"""The catalog service: products, categories and prices, served as ``/v1`` and ``/v2`` side by side."""
