"""Change control: change requests, change authorities, windows and the change schedule."""
