"""Draw a session one input at a time, from the model's current state.

Each step rolls a number from 0 to 99 and picks a kind of input by the `Mix`:
a plausible next command for the state, a command that is legal anywhere (RSET,
EHLO, HELO, NOOP, VRFY, EXPN, HELP, QUIT), a command out of order, or a
malformed line. Rolls shrink toward 0, which is the plausible kind, so a shrunk
session reads like an ordinary one with only the steps that matter left odd.
Drawing from the state reaches deep states (a third transaction, recipients
after a rejected one) that uniformly random lists rarely reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import Phase as SearchPhase
from hypothesis import strategies as st

from conformance.state import Phase, SessionState
from strategies import extensions
from strategies.commands import (
    ANYWHERE,
    MALFORMED,
    STEPS,
    Builder,
    Profile,
    Step,
    build,
    data,
    ehlo,
    helo,
    mail,
    quit_,
    rcpt,
    rset,
)

#: The Hypothesis phases of a search for findings. Hypothesis's explain phase
#: is left out: it replays the shrunk session hundreds of times to comment on
#: which draws did not matter, which costs more than the shrinking itself and
#: adds nothing to a transcript.
SEARCH_PHASES = tuple(
    phase for phase in SearchPhase if phase is not SearchPhase.explain
)

#: A session ends with QUIT once the server has sent this many error replies.
#: Many servers slow down after a number of errors (Postfix 3.7 by default
#: waits 1 s before every reply line after 10 errors), which is legal but would
#: make such sessions cost seconds each. Ending earlier keeps runs fast; the
#: model still sees closes and 421s that come after fewer errors.
MAX_ERRORS = 8


@dataclass(frozen=True)
class Mix:
    """Percentages of each kind of step; the rest of 100 is malformed lines.

    Attributes:
        plausible: the command a client would send next in this state.
        anywhere: commands legal in every state.
        out_of_order: transaction commands sent in the wrong state.
        stop: chance in 100, at each step, that the segment ends there.
        extension: inputs of the advertised extensions named in `focus`
            (see `strategies.extensions`); a plausible command when none is
            advertised.
        focus: EHLO keywords whose extensions the `extension` share uses.
    """

    plausible: int = 60
    anywhere: int = 20
    out_of_order: int = 10
    stop: int = 8
    extension: int = 0
    focus: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        total = self.plausible + self.anywhere + self.out_of_order + self.extension
        if total > 100:
            raise ValueError(f"the percentages of {self!r} add up to more than 100")


DEFAULT_MIX = Mix()


def plausible_builders(state: SessionState) -> list[Builder]:
    """Return what a well-behaved client sends next in `state`."""
    phase = state.phase
    if phase is Phase.HELLO:
        return [ehlo, helo]
    if phase is Phase.MAIL:
        return [mail]
    if phase is Phase.RCPT:
        return [rcpt]
    if phase is Phase.RCPT_OR_DATA:
        return [data, rcpt]
    if phase in (Phase.CHUNKS, Phase.UNSETTLED):
        return [rset]
    return [quit_]


def out_of_order_builders(state: SessionState) -> list[Builder]:
    """Return the transaction commands that do not fit `state`."""
    phase = state.phase
    builders: list[Builder] = []
    if phase is not Phase.MAIL:
        builders.append(mail)
    if phase not in (Phase.RCPT, Phase.RCPT_OR_DATA):
        builders.append(rcpt)
    if phase is not Phase.RCPT_OR_DATA:
        builders.append(data)
    return builders


def next_input(
    step: Step,
    state: SessionState,
    profile: Profile,
    mix: Mix = DEFAULT_MIX,
    may_stop: bool = True,
) -> bytes | None:
    """Build the next input from a drawn `step`, or None to end the segment.

    None comes only when `may_stop` is true. Every step of a session is the
    same draw of five fields (`strategies.commands.STEPS`): stop, kind,
    pick, variant and spelling, read here against the model's state. A step
    is one draw of fixed shape, so Hypothesis can delete a whole step while
    shrinking without changing how the steps after it are read. A stop roll
    of 0 ends the segment, so shrinking also cuts the tail.
    """
    if state.phase is Phase.AUTH:
        # Every line is a SASL response now; the roll picks which kind.
        return extensions.sasl_response(profile, state, _sasl_variant(step))
    if may_stop and step.stop < mix.stop:
        return None
    roll = step.roll - mix.plausible - mix.anywhere - mix.out_of_order
    if 0 <= roll < mix.extension:
        chosen = extensions.extension_builders(state, mix.focus)
        if chosen:
            builder = chosen[step.pick % len(chosen)]
            return builder(profile, state, step.variant)
    builders = _builders_for(step.roll, state, mix)
    return build(
        builders[step.pick % len(builders)], profile, step.variant, step.spelling
    )


def _sasl_variant(step: Step) -> int:
    # Most responses are the right one, so that exchanges also succeed.
    return 0 if step.roll < 70 else step.variant


def _builders_for(roll: int, state: SessionState, mix: Mix) -> list[Builder]:
    if roll < mix.plausible:
        return plausible_builders(state)
    roll -= mix.plausible
    if roll < mix.anywhere:
        return ANYWHERE
    roll -= mix.anywhere
    if roll < mix.out_of_order:
        return out_of_order_builders(state)
    roll -= mix.out_of_order
    if roll < mix.extension:
        return plausible_builders(state)
    return MALFORMED


#: Message content to draw: a strategy, or a function of the state giving one.
Contents = st.SearchStrategy[bytes] | Callable[[SessionState], st.SearchStrategy[bytes]]


@dataclass(frozen=True)
class Segment:
    """Part of a session plan: `minimum` to `steps` inputs drawn with `mix`.

    A segment with `fixed` set sends exactly that line once instead.
    """

    mix: Mix = DEFAULT_MIX
    steps: int = 40
    minimum: int = 0
    fixed: bytes | None = None


class PlannedChooser:
    """A `conformance.driver.Chooser` that draws each input with Hypothesis.

    The session follows the segments in order. A drawn segment sends up to
    `steps` inputs, and ends earlier when a step's stop roll says so once it
    has sent at least `minimum` inputs. A fixed segment sends its line once.
    Message content is drawn whenever the server awaits it, without counting
    as a step, from `contents` (by default plain messages, with 8-bit lines
    after BODY=8BITMIME). `respell`, when
    given, rewrites every drawn command line.
    """

    def __init__(
        self,
        data: st.DataObject,
        profile: Profile,
        segments: list[Segment],
        respell: Callable[[bytes], bytes] | None = None,
        contents: Contents | None = None,
    ) -> None:
        self._data = data
        self._profile = profile
        self._segments = list(segments)
        self._respell = respell
        self._contents = contents if contents is not None else extensions.contents
        self._used = 0
        self._ahead: Step | None = None

    def draw_ahead(self) -> None:
        """Draw the next step now, if it is not drawn yet.

        A step's fields do not depend on the state. So the driver calls
        this while the server works on a command (`run_session`'s
        `while_waiting`), and the next call reads the step against the state
        the reply leads to. A step drawn for a session that then ends goes
        unused, which changes nothing but the draws Hypothesis shrinks away.
        """
        if self._ahead is None:
            self._ahead = self._data.draw(STEPS)

    def _step(self) -> Step:
        step = self._ahead if self._ahead is not None else self._data.draw(STEPS)
        self._ahead = None
        return step

    def __call__(self, state: SessionState) -> bytes | None:
        if state.phase is Phase.CONTENT:
            contents = self._contents
            if not isinstance(contents, st.SearchStrategy):
                contents = contents(state)
            return self._data.draw(contents)
        if state.errors >= MAX_ERRORS:
            return None
        while self._segments:
            segment = self._segments[0]
            if segment.fixed is not None:
                self._next_segment()
                return segment.fixed
            if self._used >= segment.steps:
                self._next_segment()
                continue
            may_stop = self._used >= segment.minimum
            step = self._step()
            line = next_input(step, state, self._profile, segment.mix, may_stop)
            if line is None:
                self._next_segment()
                continue
            self._used += 1
            return self._respell(line) if self._respell else line
        return None

    def _next_segment(self) -> None:
        self._segments.pop(0)
        self._used = 0


def drawn(
    data: st.DataObject, profile: Profile, mix: Mix = DEFAULT_MIX, steps: int = 40
) -> PlannedChooser:
    """Return a chooser that draws a whole session of 1 to `steps` inputs."""
    return PlannedChooser(data, profile, [Segment(mix, steps, minimum=1)])
