"""Test doubles that ship with switchpoint, for its own tests and for yours.

Fakes stand in only for remote LLM APIs. They are real HTTP servers on loopback that speak
the provider's wire format, scripted per model.
"""

from switchpoint.testing.fake_anthropic import AnthropicBehavior, FakeAnthropicUpstream
from switchpoint.testing.fake_gemini import FakeGeminiUpstream, GeminiBehavior
from switchpoint.testing.fake_openai import Behavior, FakeOpenAIUpstream, ReceivedRequest

__all__ = [
    "AnthropicBehavior",
    "Behavior",
    "FakeAnthropicUpstream",
    "FakeGeminiUpstream",
    "FakeOpenAIUpstream",
    "GeminiBehavior",
    "ReceivedRequest",
]
