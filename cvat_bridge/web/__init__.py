"""Server-side pages (Jinja2 templates) and their static scripts; data comes from /api with the token."""
