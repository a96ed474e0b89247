"""Configuration: typed settings that remember where each value came from (settings), the
parameters an operator may change at runtime (params_registry, param_spec) and how their
values are shown (formatting)."""
