"""`make bench`: the storefront measured through nginx -> gunicorn -> PostgreSQL on this machine."""
