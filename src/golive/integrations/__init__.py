"""Integrations with other tools: the ITSM bridge (inbound change requests) and webhooks."""
