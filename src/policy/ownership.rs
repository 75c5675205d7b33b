//! A policy's `[ownership]` as data: where a caller's owner name comes from ([`OwnerSource`]) and
//! the label that carries it on every object the caller creates. It only reads and checks the
//! setting; deriving a caller's owner and holding requests to it is the tenancy stage's job.

/// The label that carries an object's owner unless a policy names another.
pub const DEFAULT_LABEL: &str = "io.sockgate.owner";

/// Where a caller's owner name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerSource {
    /// The strongest fact known of the caller: its certificate (its CN, or its fingerprint when
    /// it has no single CN), else its container's name, else the uid of a host process.
    Identity,
    Uid,
    Cn,
    Container,
    /// A label of the calling container.
    ContainerLabel(String),
    /// One name for every caller (one sockgate per job).
    Fixed(String),
}

/// A policy's `[ownership]`: where the owner comes from, and the label that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub source: OwnerSource,
    pub label: String,
}

impl Ownership {
    /// Reads `owner` (`identity`, `uid`, `cn`, `container`, `container_label:KEY` or
    /// `fixed:NAME`) and the label key.
    pub fn new(owner: &str, label: &str) -> Result<Ownership, String> {
        let source = match owner.split_once(':') {
            None if owner == "identity" => OwnerSource::Identity,
            None if owner == "uid" => OwnerSource::Uid,
            None if owner == "cn" => OwnerSource::Cn,
            None if owner == "container" => OwnerSource::Container,
            Some(("container_label", key)) if !key.is_empty() => OwnerSource::ContainerLabel(key.to_owned()),
            Some(("fixed", name)) if !name.is_empty() => OwnerSource::Fixed(name.to_owned()),
            _ => {
                return Err(format!(
                    "ownership owner `{owner}` is not `identity`, `uid`, `cn`, `container`, \
                     `container_label:KEY` or `fixed:NAME`"
                ))
            }
        };
        if label.is_empty() || label.contains('=') {
            return Err(format!("ownership label `{label}` must be a label key"));
        }
        Ok(Ownership { source, label: label.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_sources_and_labels_are_checked() {
        assert_eq!(
            Ownership::new("fixed:job-42", "x.owner"),
            Ok(Ownership { source: OwnerSource::Fixed("job-42".into()), label: "x.owner".into() })
        );
        assert!(Ownership::new("who", DEFAULT_LABEL).is_err());
        assert!(Ownership::new("uid", "a=b").is_err());
        assert_eq!(
            Ownership::new("container_label:com.example.job", DEFAULT_LABEL).map(|o| o.source),
            Ok(OwnerSource::ContainerLabel("com.example.job".into()))
        );
    }
}
