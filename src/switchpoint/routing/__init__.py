"""Model routing: rules, semantic routes and learned cost-quality routers."""
