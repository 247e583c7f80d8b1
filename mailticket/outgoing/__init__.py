"""Outgoing mail: render, queue in the outbox, send (directory or SMTP), copies and refusals."""
