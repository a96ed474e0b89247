"""What every part of ops uses and owns nothing else: the typed results the surfaces render
(results), the error types (errors) and the user-facing wording (messages)."""
