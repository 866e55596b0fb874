"""Request records and the sinks that receive them."""
