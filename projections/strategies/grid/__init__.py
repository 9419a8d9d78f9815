"""A perpetual-futures grid with ATR-scaled spacing and inventory skew, as target state."""
