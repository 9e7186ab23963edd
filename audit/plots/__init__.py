"""Figures of an audit run; every plot function returns a Figure and writes nothing."""
