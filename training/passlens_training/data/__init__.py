"""Stage 1, the problems: APPS (and micro-APPS) loading, seeded splits, and the prompts
generation starts from."""
