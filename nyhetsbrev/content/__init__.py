"""The content tree read and checked: config, front matter, Markdown."""
