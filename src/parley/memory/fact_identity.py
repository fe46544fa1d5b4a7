"""Whether two observation texts state the same fact, a changed version of one fact, or two
different facts: the rule behind the near-duplicate check of derived observations.

An embedding puts "Alice's appointment is on March 3" within 0.02 of "... on March 9", "I am
allergic to peanuts" within 0.03 of "I am not allergic to peanuts", and "dave is older than his
sister" within 0.02 of "... younger ...": closeness alone cannot tell a repeat from an update. So
each text's *anchors* are read off its words, and closeness decides only among texts whose
anchors allow it:

- values: numbers (digits, and written numbers and ordinals, read by text2num; "twice" is 2),
  dates and times (months, weekdays, ISO dates, clock times, seasons, parts of the day,
  relative days such as "tomorrow" or "next week"), and one side of a pair of opposites
  ("older"/"younger", "love"/"hate", "buy"/"sell": `OPPOSITE_PAIRS`);
- names: capitalized words (at a sentence start only those that are not common words),
  acronyms, words with an inner capital ("iPhone"), and people named by their tie ("her
  mother", "bob's boss": `KIN`);
- labels: a number right after a name, or after "#" ("Observation 1", "Room 12"), and version
  strings ("v1.2"): which thing, not how much of it;
- negations: not, n't, never, no (and "no longer"), nothing, nobody, none, nor, neither,
  without, cannot, and a negating prefix on a word of `NEGATABLE` ("dislikes", "unhappy").

A new text relates to a stored one at cosine distance `d` as:
- SAME (the stored one is confirmed: a merge) when the anchors are equal (a name written in
  lower case in the other text counts) and d <= merge_distance;
- CHANGED (the new one supersedes the stored one) when names and labels are equal, d <=
  change_distance, at least half of their content words are shared (the same subject: "Alice
  has 2 cats" and "Alice has 3 dogs" are not), and either values were replaced (each side has
  one the other lacks) or the negations differ while the values do not;
- DIFFERENT (both kept) otherwise. A value only added or only dropped is more or less detail
  ("Alice has cats", "Alice has 2 cats"), not a change; a different name is a different fact
  too ("lives in Berlin", "lives in Paris": a move, or two homes; both stay).

The deriver without a model writes "<peer> said on <YYYY-MM-DD>: <sentence>". The day a thing was
said is not part of the fact ("I live in Berlin." said on two days is one fact) unless the
sentence speaks of a day relative to it ("I have a meeting tomorrow."): then statements of
different days are different facts.

Pure: no I/O, no model; `anchors` is cached per text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from text_to_num import alpha2digit


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Tuned on the tuning half of bench/data/observation_pairs.jsonl (bench/merge_rule.py --tune);
# the figures are in docs/benchmarks.md. The rule before this one merged at 0.05, on distance
# alone.
MERGE_DISTANCE = 0.10
CHANGE_DISTANCE = 0.25


class Relation(Enum):
    SAME = "same"
    CHANGED = "changed"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Anchors:
    values: tuple[str, ...]  # sorted, with repeats: "2 cats and 2 dogs" has two n:2
    names: frozenset[str]
    labels: frozenset[str]
    negations: int
    said_on: str | None  # the day of a "said on" statement that speaks of a relative day
    # not anchors: every word (lowercased), and the content words (stemmed; no names, values,
    # negations, function words or the subject), to see whether two texts speak of the same
    # thing
    words: frozenset[str] = frozenset()
    content: frozenset[str] = frozenset()


def relation(
    new: str,
    old: str,
    distance: float,
    *,
    merge_distance: float = MERGE_DISTANCE,
    change_distance: float = CHANGE_DISTANCE,
) -> Relation:
    """How the fact `new` relates to the stored `old`, their embeddings `distance` apart."""
    if distance > max(merge_distance, change_distance):
        return Relation.DIFFERENT
    a, b = anchors(new), anchors(old)
    same_names = _names_match(a, b) and _names_match(b, a)
    if not same_names or (a.labels, a.said_on) != (b.labels, b.said_on):
        return Relation.DIFFERENT
    new_values, old_values = Counter(a.values), Counter(b.values)
    if new_values == old_values and a.negations == b.negations:
        return Relation.SAME if distance <= merge_distance else Relation.DIFFERENT
    if distance > change_distance or not _same_subject(a, b):
        return Relation.DIFFERENT
    replaced = bool(new_values - old_values) and bool(old_values - new_values)
    if replaced or (new_values == old_values and a.negations != b.negations):
        return Relation.CHANGED
    return Relation.DIFFERENT


def _names_match(a: Anchors, b: Anchors) -> bool:
    """Every name of `a` is a word of `b` ("Carol has 3 cats", "carol has three cats")."""
    return all(name in b.names or name in b.words for name in a.names)


def _same_subject(a: Anchors, b: Anchors) -> bool:
    """At least half the content words are shared, not counting names, which match already
    ("Alice has 2 cats" and "Alice has 3 dogs" do not speak of the same thing; "Alice is 30"
    and "Alice is 31" have no content words but their values)."""
    ours, theirs = a.content - b.names, b.content - a.names
    return 2 * len(ours & theirs) >= len(ours | theirs)


NO_ONE = re.compile(r"\bno[ -]one\b", re.I)
NO_LONGER = re.compile(r"\b(no|any) (longer|more)\b", re.I)
# "<peer> said on <day>: <sentence>" (deriver.sentence_facts)
SAID_ON = re.compile(r"(?P<who>[^\s:]+) said on (?P<day>\d{4}-\d{2}-\d{2}): (?P<body>.*)", re.S)

TOKEN = re.compile(
    # words first (most tokens are), then what starts with a digit
    r"""
    (?P<version>\b[vV]\d+(?:\.\d+)+\b)
    |(?P<word>[^\W\d_](?:[\w'-]*\w)?(?:\.\d+)*)
    |(?P<stop>[.!?;:\n])
    |(?P<hash>\#\s?\d+)
    |(?P<iso>(?<![\d.])\d{4}-\d{1,2}-\d{1,2}(?![\d-]))
    |(?P<slashed>(?<![\d/])\d{1,2}/\d{1,2}(?:/\d{2,4})?(?![\d/]))
    |(?P<clock>(?P<clock_time>(?<![\d:])\d{1,2}:\d{2}(?![\d:]))(?:\s*(?P<clock_half>[ap])\.?m\b\.?)?)
    |(?P<hour>(?P<hour_value>(?<![\d.])\d{1,2})\s*(?P<half>[ap])\.?m\b\.?)
    |(?P<number>(?P<digits>(?<![\w.])\d+(?:[.,]\d+)*)[^\W\d_]*)
    """,
    re.VERBOSE,
)

# Opposites, which embeddings place close together ("dave is older than his sister" and
# "... younger ..." are 0.02 apart): each word is a value of its pair, so a swap is a change.
OPPOSITE_PAIRS = (
    ("old older oldest", "young younger youngest"),
    ("early earlier earliest", "late later latest"),
    ("optimistic", "pessimistic"),
    ("introvert introverted", "extrovert extroverted extravert"),
    ("more most", "less least fewer fewest"),
    ("long longer longest", "short shorter shortest"),
    ("big bigger biggest large larger largest", "small smaller smallest little"),
    ("high higher highest", "low lower lowest"),
    ("increase increased increasing", "decrease decreased decreasing"),
    ("gain gained gaining", "lose lost losing"),
    ("buy buying bought", "sell selling sold"),
    ("love loved loving", "hate hated hating"),
    ("good better best", "bad worse worst"),
    ("before", "after"),
    ("above", "below"),
    ("open opened", "close closed"),
    ("start started starting", "stop stopped stopping quit quitting"),
    ("win won winning", "lose lost losing"),
    ("pass passed", "fail failed"),
    ("accept accepted", "reject rejected decline declined"),
    ("hot warm", "cold cool"),
    ("fast faster fastest quick", "slow slower slowest"),
    ("cheap cheaper cheapest", "expensive"),
    ("easy easier", "hard harder difficult"),
    ("rich", "poor"),
    ("full", "empty"),
    ("often frequently", "rarely seldom"),
    ("light lighter", "dark darker heavy heavier"),
    ("strong stronger", "weak weaker"),
    ("safe", "dangerous"),
    ("male", "female"),
)
OPPOSITES = {
    word: f"{group}:{side}"
    for group, pair in enumerate(OPPOSITE_PAIRS)
    for side, words in enumerate(pair)
    for word in words.split()
}
# People named by their tie ("her mother", "bob's boss"): a different tie is a different person,
# like a different name.
KIN = {
    word: canonical
    for canonical, words in (
        ("mother", "mother mom mum mommy"),
        ("father", "father dad daddy"),
        ("son", "son"),
        ("daughter", "daughter"),
        ("child", "child children kid kids"),
        ("brother", "brother"),
        ("sister", "sister"),
        ("sibling", "sibling"),
        ("husband", "husband"),
        ("wife", "wife"),
        ("partner", "partner spouse"),
        ("boyfriend", "boyfriend"),
        ("girlfriend", "girlfriend"),
        ("grandmother", "grandmother grandma granny"),
        ("grandfather", "grandfather grandpa"),
        ("aunt", "aunt"),
        ("uncle", "uncle"),
        ("cousin", "cousin"),
        ("niece", "niece"),
        ("nephew", "nephew"),
        ("friend", "friend"),
        ("boss", "boss manager supervisor"),
        ("colleague", "colleague coworker co-worker"),
        ("roommate", "roommate flatmate housemate"),
        ("neighbor", "neighbor neighbour"),
    )
    for word in words.split()
}
# words that a prefix negates ("unhappy", "dislikes", "disagreed"), by their stem
NEGATING_PREFIXES = ("un", "dis", "in", "im")
NEGATABLE = _wordset(
    """
    like agree happy able likely willing comfortable employed married sure satisfied
    interested available healthy aware familiar known usual trust approve continue connect
    organized pleased patient possible polite active allow
    """
)
# who the facts are about, not what they say
SUBJECTS = frozenset({"user", "users", "assistant"})
# words that carry no subject of their own (for `_same_subject`)
FUNCTION_WORDS = _wordset(
    """
    a an the is are was were be been being am has have had having do does did will would shall
    should can could may might must to of in on at by for with from into onto about as and or
    but so than then that this these those it its he she they them his her hers their theirs
    him i me my mine we us our you your any some anymore anylonger still also very really just
    now currently again every each all both more most much many few less too there here what
    which who whom whose when where why how if because while up out off over under per
    """
)
NEGATIONS = _wordset(
    "not no never nothing nobody none nowhere neither nor without cannot noone nolonger nomore"
)
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# month names that are everyday words too: a month only when capitalized
CAPITAL_MONTHS = frozenset({"may", "march", *(m for m in MONTHS if len(m) <= 4)})
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ),
        start=1,
    )
    for name in names
}
CAPITAL_WEEKDAYS = frozenset(w for w in WEEKDAYS if len(w) <= 5)
RELATIVE_DAYS = frozenset({"today", "tonight", "tomorrow", "yesterday"})
RELATIVE_LEAD = frozenset({"this", "next", "last", "coming", "past"})
PERIODS = frozenset(
    {"week", "weekend", "month", "year", "morning", "afternoon", "evening", "night", "spring"}
    | {"summer", "autumn", "fall", "winter", "semester", "term", "quarter"}
)
TIMES_OF_DAY = {"noon": "12:00", "midnight": "00:00", "midday": "12:00"}
# seasons and parts of the day (and their plurals: "on weekends")
SEASONS = frozenset(
    {"morning", "afternoon", "evening", "night", "spring", "summer", "autumn", "winter"}
    | {"weekend", "weekends", "mornings", "afternoons", "evenings", "nights"}
)
MULTIPLES = {"once": "1", "twice": "2", "thrice": "3", "dozen": "12"}

# Words that start sentences without being names ("She", "The", "Today"); any other
# capitalized word at a sentence start is taken for a name.
COMMON_WORDS = _wordset(
    """
    a about above across after afterwards again against all almost also although always am
    among an and another any anyone anything anyway apparently are around as at because been
    before being below besides between both but by can could currently did do does doing done
    during each earlier either else enjoys even eventually ever every everyone everything for
    from generally had has have having he her here hers herself him himself his how however i
    i'd i'll i'm i've if in instead into is it it's its itself just lately later like likes
    loves many may maybe me might mine more most mostly much must my myself neither never next
    no none nor not now of often on once one only or other others otherwise our ours ourselves
    out over overall perhaps please previously probably rarely rather really recently she she's
    should since so some someone something sometimes soon still such than that that's the
    their theirs them themselves then there there's these they they're this those though thus
    to today together tomorrow tonight too under unless until up upon us usually very was we
    we're were what when whenever where whether which while who whom whose why will with
    within without would yes yesterday yet you your yours yourself user users assistant
    speaker person people someone's everybody somebody nobody nothing overall additionally
    finally first second third last initially originally formerly lives works wants needs
    prefers plans hopes thinks feels believes knows said says mentioned told asked went goes
    has had got gets made makes took takes uses used
    """
)


def read_ahead(texts: Iterable[str]) -> None:
    """Read the anchors of `texts` into the cache: in a thread, before a write transaction
    compares them (about 0.1 ms of CPU a text)."""
    for text in texts:
        anchors(text)


@lru_cache(maxsize=8192)
def anchors(text: str) -> Anchors:
    """The anchors of one observation text (see the module docstring)."""
    said_on: str | None = None
    statement = SAID_ON.fullmatch(text.strip())
    if statement is not None:
        text, said_on = statement["body"], statement["day"]
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = NO_ONE.sub("noone", text)  # not the number one
    text = NO_LONGER.sub(r"\1\2", text)  # not opposites
    text = alpha2digit(text, "en", threshold=0)
    values: list[str] = []
    names: set[str] = set()
    labels: set[str] = set()
    words: set[str] = set()
    content: set[str] = set()
    negations = 0
    relative = False
    at_start = True
    previous = ""  # the kind of the token before: "name", "month", "lead", "word", ...
    previous_word = ""
    first = True  # the first word: the subject ("bob works ..."), which all the pair share
    for match in TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "stop":
            at_start, previous, first = True, "", False
            continue
        current = "value"
        if kind == "iso":
            year, month, day = (int(part) for part in match["iso"].split("-"))
            values += [f"n:{year}", f"month:{month}", f"n:{day}"]
        elif kind == "slashed":
            values.append("date:" + "/".join(str(int(p)) for p in match["slashed"].split("/")))
        elif kind == "clock":
            hour, minute = (int(p) for p in match["clock_time"].split(":"))
            values.append(_clock(hour, minute, match["clock_half"]))
        elif kind == "hour":
            values.append(_clock(int(match["hour_value"]), 0, match["half"]))
        elif kind in ("hash", "version"):
            labels.add(match[kind].lstrip("#").strip().lower())
        elif kind == "number":
            number = _number(match["digits"])
            if previous == "name":
                labels.add(number)
            else:
                values.append(f"n:{number}")
        else:  # a word
            word = _read_word(
                match["word"], at_start, previous_word if previous == "lead" else None
            )
            current = word.kind
            if word.value is not None:
                values.append(word.value)
            if word.name is not None:
                names.add(word.name)
            if word.content is not None and not first:
                content.add(word.content)
            words.add(word.bare)
            negations += word.negations
            relative = relative or current == "relative" or word.bare == "ago"
            previous_word = word.bare
        first = False
        previous = current
        at_start = False
    return Anchors(
        values=tuple(sorted(values)),
        names=frozenset(names),
        labels=frozenset(labels),
        negations=negations,
        said_on=said_on if relative else None,
        words=frozenset(words),
        content=frozenset(content),
    )


@dataclass(frozen=True, slots=True)
class _Word:
    kind: str  # "word", "name", "negation", "value", "month", "relative", "lead", ...
    value: str | None
    name: str | None
    bare: str  # lowercased, without a possessive
    content: str | None  # the content word it is, if it is one (stemmed)
    negations: int


@lru_cache(maxsize=65_536)
def _read_word(token: str, at_start: bool, lead: str | None) -> _Word:
    """What one word anchors (cached: words repeat across texts far more than texts do)."""
    values: list[str] = []
    names: set[str] = set()
    kind = _word(token, at_start, lead, values, names)
    bare = _bare(token.lower())
    negations = int(kind == "negation")
    content = None
    base = _negated_base(bare)
    if base is not None:  # "dislikes": a negation of "like"
        negations += 1
        content = base
    elif kind == "word" and bare not in FUNCTION_WORDS and bare not in SUBJECTS:
        content = _negated_base("un" + bare) or _stem(bare)
    return _Word(
        kind, values[0] if values else None, next(iter(names), None), bare, content, negations
    )


def _word(token: str, at_start: bool, lead: str | None, values: list[str], names: set[str]) -> str:
    """Record what one word anchors; return its kind. `lead`: the word before, when it was
    "this", "next", "last", ..."""
    lowered = token.lower()
    bare = lowered.rstrip(".")
    capital = token[0].isupper()
    if lowered in NEGATIONS or lowered.endswith("n't"):
        return "negation"
    if lowered in RELATIVE_LEAD:
        return "lead"
    kin = KIN.get(_stem(_bare(lowered))) or KIN.get(_bare(lowered))
    if kin is not None:
        names.add(f"kin:{kin}")
        return "kin"
    opposite = OPPOSITES.get(lowered) or OPPOSITES.get(_stem(lowered))
    if opposite is not None:
        values.append(f"opposite:{opposite}")
        return "value"
    weekday = bare[:-1] if bare.endswith("s") and bare[:-1] in WEEKDAYS else bare
    if lead is not None and (lowered in PERIODS or weekday in WEEKDAYS):
        values.append(f"day:{lead} {weekday}")  # "next week": relative to the day it was said
        return "relative"
    if lowered in RELATIVE_DAYS:
        values.append(f"day:{lowered}")
        return "relative"
    if bare in MONTHS and (capital or bare not in CAPITAL_MONTHS):
        values.append(f"month:{MONTHS[bare]}")
        return "month"
    if weekday in WEEKDAYS and (capital or weekday not in CAPITAL_WEEKDAYS):
        values.append(f"weekday:{WEEKDAYS[weekday]}")
        return "weekday"
    if lowered in MULTIPLES:
        values.append(f"n:{MULTIPLES[lowered]}")
        return "value"
    if lowered in TIMES_OF_DAY:
        values.append(f"time:{TIMES_OF_DAY[lowered]}")
        return "value"
    if lowered in SEASONS:
        values.append(f"part:{lowered.removesuffix('s')}")
        return "value"
    acronym = len(token) > 1 and token.isupper()
    inner_capital = any(c.isupper() for c in token[1:])
    named = acronym or inner_capital or (capital and not (at_start and lowered in COMMON_WORDS))
    if named and lowered != "i" and not lowered.startswith("i'"):
        names.add(_bare(lowered))
        return "name"
    return "word"


def _bare(word: str) -> str:
    """A word without its possessive: "alice's" is "alice"."""
    if word.endswith("'s"):
        return word[:-2]
    return word[:-1] if word.endswith("'") else word


def _stem(word: str) -> str:
    """Plural and third-person "s" off: "cats" and "cat", "works" and "work" are one word."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _negated_base(word: str) -> str | None:
    """The stem of the word that `word` negates by its prefix ("dislikes": "like"), if any."""
    for prefix in NEGATING_PREFIXES:
        if word.startswith(prefix):
            base = _stem(word[len(prefix) :])
            base = base[:-1] if base.endswith("d") and base[:-1] in NEGATABLE else base
            base = base[:-2] if base.endswith("ed") and base[:-2] in NEGATABLE else base
            if base in NEGATABLE:
                return base
    return None


def _number(digits: str) -> str:
    """One spelling per number: thousands separators go, a decimal keeps no trailing zeros."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", digits):
        digits = digits.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", digits):
        whole, fraction = digits.split(".")
        fraction = fraction.rstrip("0")
        return f"{int(whole)}.{fraction}" if fraction else str(int(whole))
    if digits.isdigit():
        return str(int(digits))
    return digits


def _clock(hour: int, minute: int, half: str | None) -> str:
    if half is not None and half.lower() == "p" and hour < 12:
        hour += 12
    if half is not None and half.lower() == "a" and hour == 12:
        hour = 0
    return f"time:{hour:02d}:{minute:02d}"
