//! Clock faults: per-node skew through the LD_PRELOAD shim.
