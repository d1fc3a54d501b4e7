"""The `arc` command line: thin click wrappers over the `arc` library."""
