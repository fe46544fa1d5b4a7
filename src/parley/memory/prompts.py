"""Prompts and reply schemas of the reasoning tasks (deriver, peer card, summaries, dreams).

Messages are shown to the model as numbered, dated lines, so it can cite them and turn relative
dates ("yesterday", "next Friday") into absolute ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from parley.llm.chat import ChatMessage

MAX_FACT_CHARS = 1000


def _clean(value: str) -> str:
    return " ".join(value.split())[:MAX_FACT_CHARS]


FactText = Annotated[str, AfterValidator(_clean)]


class ExplicitFact(BaseModel):
    content: FactText
    messages: list[int] = Field(default_factory=list, description="numbers of source messages")


class DeductiveFact(BaseModel):
    content: FactText
    premises: list[FactText] = Field(default_factory=list)


class Extraction(BaseModel):
    """Both keys are required and no others are allowed: `{}` or `{"facts": [...]}` is not an
    answer, and is sent back instead of completing the task with nothing learned."""

    model_config = ConfigDict(extra="forbid")
    explicit: list[ExplicitFact]
    deductive: list[DeductiveFact]


class CardUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card: list[FactText]


class Deductions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deductive: list[DeductiveFact]


def message_line(number: int | None, sender: str, created_at: datetime, content: str) -> str:
    stamp = created_at.strftime("%Y-%m-%d %H:%M UTC (%A)")
    prefix = f"[{number}] " if number is not None else ""
    return f"{prefix}{stamp} {sender}: {content}"


MAX_CUSTOM_INSTRUCTIONS_CHARS = 8_000  # about Honcho 3's cap of 2,000 tokens


def extraction_prompt(
    *,
    observed: str,
    context_lines: Sequence[str],
    new_lines: Sequence[str],
    known_facts: Sequence[str],
    card: Sequence[str],
    custom_instructions: str | None = None,
) -> list[ChatMessage]:
    """`custom_instructions`: the resolved `reasoning.custom_instructions` (Honcho 3 adds them to
    its deriver's prompt), at most `MAX_CUSTOM_INSTRUCTIONS_CHARS` of them."""
    system = (
        "You maintain a memory of what is known about a person, called a peer. From the new "
        f"messages, extract what they reveal about the peer `{observed}`.\n"
        "- explicit: facts the peer states or that follow directly from their words. Each is "
        "atomic (one fact), in the third person, names the peer, and is self-contained. Turn "
        "relative dates into absolute dates using the message's time (e.g. 'yesterday' in a "
        "message of 2024-05-02 becomes 2024-05-01). List the numbers of the messages it "
        "comes from.\n"
        "- deductive: conclusions that follow with certainty from explicit facts (new or "
        "known), each with its premises quoted.\n"
        "Only the new messages of the peer are evidence. Ignore what merely repeats or "
        "quotes other speakers (such as an assistant's suggestions) unless the peer adopts it. "
        "Skip greetings and small talk, and facts already known. Never invent."
    )
    if custom_instructions:
        system += (
            f"\n\nInstructions for this conversation, about the peer `{observed}`:\n"
            + custom_instructions[:MAX_CUSTOM_INSTRUCTIONS_CHARS]
        )
    parts = []
    if card:
        parts.append("Peer card:\n" + "\n".join(f"- {fact}" for fact in card))
    if known_facts:
        parts.append("Already known:\n" + "\n".join(f"- {fact}" for fact in known_facts))
    if context_lines:
        parts.append("Earlier in the conversation (context only):\n" + "\n".join(context_lines))
    parts.append("New messages:\n" + "\n".join(new_lines))
    return [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]


def card_prompt(
    *, observed: str, card: Sequence[str], new_facts: Sequence[str], max_facts: int
) -> list[ChatMessage]:
    system = (
        f"You keep the peer card of `{observed}`: at most {max_facts} short, stable facts "
        "(name, age, location, occupation, family, lasting preferences, important dates). "
        "Update it with the new facts. When a new fact contradicts or updates an old one "
        "(a changed preference, a move), replace the old one. Drop passing details. Most "
        "important facts first."
    )
    current = "\n".join(f"- {fact}" for fact in card) or "(empty)"
    new = "\n".join(f"- {fact}" for fact in new_facts)
    return [
        ChatMessage("system", system),
        ChatMessage("user", f"Current card:\n{current}\n\nNew facts:\n{new}"),
    ]


def summary_prompt(
    *, kind: str, previous: str | None, lines: Sequence[str], max_words: int
) -> list[ChatMessage]:
    system = (
        f"You write the {kind} running summary of a conversation, at most {max_words} words. "
        "Roll the previous summary and the new messages into one summary: who the "
        "participants are, what was said and decided, open questions, with dates. Plain "
        "prose, no preamble."
    )
    before = f"Previous summary:\n{previous}\n\n" if previous else ""
    return [
        ChatMessage("system", system),
        ChatMessage("user", before + "New messages:\n" + "\n".join(lines)),
    ]


def deduction_prompt(*, observed: str, facts: Sequence[str]) -> list[ChatMessage]:
    system = (
        f"From these facts about `{observed}`, list new conclusions that follow with "
        "certainty and are not already stated, each with the facts it rests on as premises. "
        "None is a fine answer."
    )
    return [
        ChatMessage("system", system),
        ChatMessage("user", "\n".join(f"- {fact}" for fact in facts)),
    ]
