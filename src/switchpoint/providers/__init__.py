"""Provider adapters: one per upstream wire format, plus config-level presets over them."""
