//! Baselines of normal behaviour and the detectors that score against them.
