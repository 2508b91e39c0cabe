//! What the fencing tokens of a Redis target are worth.

/// What a target's tokens mean, for the report to say when they mean nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSemantics {
    /// A counter incremented with each grant on the node that granted it;
    /// increasing only while that node's memory survives.
    Counter,
    /// Grants carry no token.
    None,
}
