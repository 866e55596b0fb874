"""Pure translation between the OpenAI Chat Completions format and other wire formats.

One module per wire format (``anthropic``, ``gemini``), plus ``common`` for what they share.
Nothing here does I/O: request dicts in, request dicts out; response dicts and stream events
in, OpenAI ``chat.completion`` dicts and ``chat.completion.chunk`` dicts out. The adapters in
``switchpoint.providers`` own the HTTP and the error boundary.
"""
