import statistics
from decimal import Decimal
from fractions import Fraction


def mean(values: list[float]) -> float:
    return statistics.mean(values)


def exact(value: float) -> Fraction:
    return Fraction(Decimal(value))
