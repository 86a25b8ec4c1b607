"""Self-service flows a person walks through step by step (registration,
password recovery with the PUK), each kept as a stored, browser-bound flow."""
