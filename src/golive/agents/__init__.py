"""The server side of the agent protocol: enrollment, check-ins, assignments and reports."""
