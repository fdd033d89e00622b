"""The command-line door: `entra-backup snapshot | backups list | verify | diff | recover |
history | rebuild`. Thin: parse, connect, call the engine, print."""
