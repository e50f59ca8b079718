"""The `classpulse` command line: argument parsing (main) and one module per bigger command."""
