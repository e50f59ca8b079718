"""Running one class meeting: the lifecycle, roster, sampler, the live session and the one runner."""
