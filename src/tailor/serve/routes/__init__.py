"""The HTTP routes, one module per area; `tailor.serve.app` includes them."""
