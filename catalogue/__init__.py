"""The item catalogue (事项), opening hours with the holiday calendar, and matching."""
