//! What became of a request, in the one word the record, the audit line and the metrics all use:
//! allowed, denied, let through under audit, or refused before a decision could be made. It names
//! the outcome only; why is the decision's or the error's to say.

use super::Mode;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The policy allowed it.
    Allow,
    /// The policy denied it (or no operation matched), and the denial was enforced.
    Deny,
    /// The policy denied it, but the mode let it through.
    Audit,
    /// It could not be judged: an unreadable target or body, a bound exceeded, the engine unasked.
    Refuse,
}

impl Outcome {
    /// The outcome of a decision applied in `mode`.
    pub fn of(allowed: bool, mode: Mode) -> Outcome {
        match (allowed, mode) {
            (true, _) => Outcome::Allow,
            (false, Mode::Enforce) => Outcome::Deny,
            (false, Mode::Audit | Mode::Learn) => Outcome::Audit,
        }
    }

    /// The word logs, audit lines and the `decision` metric label use.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Audit => "audit",
            Outcome::Refuse => "refuse",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_counts_as_the_mode_applies_it() {
        assert_eq!(Outcome::of(true, Mode::Enforce), Outcome::Allow);
        assert_eq!(Outcome::of(false, Mode::Enforce), Outcome::Deny);
        assert_eq!(Outcome::of(false, Mode::Audit).name(), "audit");
        assert_eq!(Outcome::of(false, Mode::Learn).to_string(), "audit");
    }
}
