"""The composition root: the stages defined once, and every path (`just run`, the scheduler, the commands) through them."""
