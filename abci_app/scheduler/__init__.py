"""Generic scheduling primitives shared by modules that run work at future heights."""
