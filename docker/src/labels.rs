//! The labels that mark what a run created, so that removal can find it by
//! asking the engine rather than remembering.

/// The label every container and network of a run carries, valued with the
/// run id.
pub const RUN_LABEL: &str = "splitbrain.run";
/// The label naming a node container's node (`n1`, ...).
pub const NODE_LABEL: &str = "splitbrain.node";
