//! How decisions are applied: enforced, only audited, or learnt from. The mode sits next to the
//! decision because it says what a denial means; it changes nothing about how one is reached.

/// How decisions are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Denials are enforced.
    #[default]
    Enforce,
    /// Denials are logged and counted (decision `audit`) but the request goes through.
    Audit,
    /// Everything readable goes through, and the smallest policy allowing it is learnt.
    Learn,
}

impl Mode {
    /// The mode as `--mode` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
            Mode::Learn => "learn",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "audit" => Ok(Mode::Audit),
            "learn" => Ok(Mode::Learn),
            _ => Err(format!("unknown mode `{s}`: expected `enforce`, `audit` or `learn`")),
        }
    }
}
