"""Templates: the content model, the sandbox that compiles tenant source, rendering, text
utilities, bounds on source, and the store of immutable versions."""
