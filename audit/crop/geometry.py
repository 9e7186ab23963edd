"""Value objects for positions and rectangles, in pixels, always ``(x, y)`` order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """A position in image pixels; ``x`` grows to the right, ``y`` downwards."""

    x: float
    y: float


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle ``(left, top, width, height)`` in image pixels.

    The box covers columns ``left .. left + width - 1`` and rows ``top .. top + height - 1``.
    """

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """Exclusive right edge, ``left + width``."""
        return self.left + self.width

    @property
    def bottom(self) -> int:
        """Exclusive bottom edge, ``top + height``."""
        return self.top + self.height

    @property
    def area(self) -> int:
        """Number of pixels covered."""
        return self.width * self.height

    def contains(self, x: float, y: float) -> bool:
        """Whether the point ``(x, y)`` lies inside the box (right and bottom edges excluded).

        Examples
        --------
        >>> Box(10, 0, 5, 5).contains(14.9, 0)
        True
        >>> Box(10, 0, 5, 5).contains(15, 0)
        False
        """
        return self.left <= x < self.right and self.top <= y < self.bottom

    def contains_box(self, other: Box) -> bool:
        """Whether ``other`` lies wholly inside this box."""
        return (
            self.left <= other.left
            and self.top <= other.top
            and other.right <= self.right
            and other.bottom <= self.bottom
        )
