//! Per-process clock skew through LD_PRELOAD.
