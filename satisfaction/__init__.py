"""NPS surveys after delivery."""
