"""The Litestar web app: JSON API and HTML pages."""
