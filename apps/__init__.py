"""Applications built on Baton (importable from the repository root, e.g. ``apps.hello.service``)."""
