"""The analytics service: sales per product, revenue and loyalty points, projected from events only."""
