"""Transcripts of SMTP sessions: every byte in both directions, shown safely.

Server bytes are untrusted. `Transcript.format` escapes every octet outside
printable US-ASCII, so a reply carrying terminal control sequences or markup is
shown as text, and it shortens very long lines instead of flooding the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Longest line, after escaping, shown in a formatted transcript.
MAX_SHOWN_LINE = 200
#: Most server octets kept in one transcript entry; the rest is dropped.
MAX_KEPT = 256 * 1024
#: Most lines shown for one direction change (e.g. one long multi-line reply).
MAX_SHOWN_LINES = 30


@dataclass(frozen=True)
class Entry:
    """Bytes sent by the client ("C") or received from the server ("S")."""

    direction: str
    data: bytes


@dataclass
class Transcript:
    """The ordered record of one connection."""

    entries: list[Entry] = field(default_factory=list)

    def client(self, data: bytes) -> None:
        self.entries.append(Entry("C", data))

    def server(self, data: bytes) -> None:
        # Consecutive server bytes form one entry. Chunks are joined only when
        # the entry is short, and an entry stops growing at MAX_KEPT octets,
        # so a flood from the server costs neither quadratic time nor memory.
        if self.entries and self.entries[-1].direction == "S":
            kept = self.entries[-1].data
            if len(kept) >= MAX_KEPT:
                return
            self.entries[-1] = Entry("S", kept + data[: MAX_KEPT - len(kept)])
        else:
            self.entries.append(Entry("S", data[:MAX_KEPT]))

    def note(self, text: str) -> None:
        """Record an event that is not bytes, such as a close or a timeout."""
        self.entries.append(Entry("*", text.encode("ascii", "backslashreplace")))

    @property
    def commands_sent(self) -> int:
        return sum(1 for entry in self.entries if entry.direction == "C")

    def format(self) -> str:
        """Return the transcript as "C: ..." and "S: ..." lines."""
        return "\n".join(format_entries(self.entries))


def format_entries(entries: list[Entry]) -> list[str]:
    lines = []
    for entry in entries:
        if entry.direction == "*":
            lines.append(f"   ({entry.data.decode('ascii')})")
            continue
        shown = split_lines(entry.data)
        for line in shown[:MAX_SHOWN_LINES]:
            lines.append(f"{entry.direction}: {line}")
        if len(shown) > MAX_SHOWN_LINES:
            hidden = len(shown) - MAX_SHOWN_LINES
            lines.append(f"{entry.direction}: ... ({hidden} more lines)")
    return lines


def split_lines(data: bytes) -> list[str]:
    """Split on CRLF and escape each line; other line ends stay visible."""
    parts = data.split(b"\r\n")
    if parts[-1] == b"":
        parts.pop()
    return [escape(part) for part in parts]


def escape(data: bytes) -> str:
    """Return `data` as printable ASCII, escaping every other octet as \\xNN.

    Text longer than MAX_SHOWN_LINE characters is cut between two escapes,
    never inside one, and ends with the octet count of the whole.
    """
    pieces: list[str] = []
    length = 0
    for octet in data:
        piece = chr(octet) if 0x20 <= octet < 0x7F and octet != 0x5C else None
        piece = piece or _escape_octet(octet)
        if length + len(piece) > MAX_SHOWN_LINE:
            return "".join(pieces) + f"... ({len(data)} octets)"
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def _escape_octet(octet: int) -> str:
    if octet == 0x5C:
        return "\\\\"
    if octet == 0x0A:
        return "\\n"
    if octet == 0x0D:
        return "\\r"
    if octet == 0x09:
        return "\\t"
    return f"\\x{octet:02x}"
