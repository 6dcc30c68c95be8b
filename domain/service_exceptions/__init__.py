"""The ServiceException aggregate (DOMAIN.md section 2, source 002)."""
