"""Talking to Microsoft Graph: the session, credentials, `$batch` and pacing against throttling.

Every read and write of the engine goes through `session.GraphSession`, so retries, token
refresh and the permanent-delete guard hold on every path.
"""
