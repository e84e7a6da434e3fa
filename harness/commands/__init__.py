"""The CLI's commands, one module each: parse the arguments, call a keyword-only library function,
print. Nothing here holds logic a test would need to reach through the CLI."""
