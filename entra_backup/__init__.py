"""The engine: capture, diff and recovery of Entra ID tenant configuration.

Nothing in this package imports `azure.functions`; the Functions app and the CLI are thin
doors into it.
"""

__version__ = "0.1.0"
