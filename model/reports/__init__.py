"""Results as tables, JSON, CSV and self-contained HTML; the page's script and styles are files in static/."""
