"""Maintainers' data: uploads with row-level reports, change sets, review, publish, export."""
