//! Narrows what a tenant sees of the engine's lists: a label filter merged into the client's own
//! `filters` for lists, event streams and prunes, and a disk-usage answer cut to the tenant's
//! objects. It only ever narrows what the client asked for, never widens it.

use serde_json::{Map, Value};

use super::{TenancyError, Tenant};
use crate::classify::Operation;
use crate::inspect::query::Query;

impl Tenant {
    /// The query with this tenant's label filter merged into the client's own `filters`. dockerd
    /// reads both forms of the filter object (`{"label":["k=v"]}` and `{"label":{"k=v":true}}`,
    /// `api/types/filters` `FromJSON`) and requires every `label` value to match (`MatchKVList`),
    /// so the merged filter can only narrow what the client asked for.
    pub fn scope_query(&self, raw: Option<&str>) -> Result<String, TenancyError> {
        let parsed = Query::parse(raw.unwrap_or(""))?;
        let filters = parsed.get("filters")?.unwrap_or("");
        let mut map: Map<String, Value> = if filters.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(filters) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(TenancyError::Filters("not an object".into())),
                Err(e) => return Err(TenancyError::Filters(e.to_string())),
            }
        };
        let mut normalized = Map::new();
        for (key, value) in map.iter_mut() {
            let values: Map<String, Value> = match value {
                Value::Object(set) if set.values().all(Value::is_boolean) => std::mem::take(set),
                Value::Array(list) if list.iter().all(Value::is_string) => {
                    list.iter().filter_map(Value::as_str).map(|v| (v.to_owned(), Value::Bool(true))).collect()
                }
                _ => return Err(TenancyError::Filters(format!("`{key}` is neither a list nor a set of strings"))),
            };
            normalized.insert(key.clone(), Value::Object(values));
        }
        let labels = normalized.entry("label").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(labels) = labels {
            labels.insert(format!("{}={}", self.label, self.owner), Value::Bool(true));
        }
        Ok(crate::lookup::with_param(raw, "filters", &Value::Object(normalized).to_string()))
    }

    /// A `GET /system/df` answer narrowed to this tenant's containers, volumes and images (the
    /// route takes no filters); the build cache is shared and stays.
    pub fn scope_df(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut answer: Value = serde_json::from_slice(body).ok()?;
        let object = answer.as_object_mut()?;
        for section in ["Containers", "Volumes", "Images"] {
            if let Some(Value::Array(items)) = object.get_mut(section) {
                items.retain(|item| {
                    item.get("Labels").and_then(|l| l.get(&self.label)).and_then(Value::as_str) == Some(&self.owner)
                });
            }
        }
        serde_json::to_vec(&answer).ok()
    }
}

/// The operations whose answers list or stream the engine's objects, narrowed by a label filter.
pub fn scoped_by_filter(operation: Operation) -> bool {
    [
        Operation::CONTAINERS_LIST,
        Operation::VOLUMES_LIST,
        Operation::NETWORKS_LIST,
        Operation::SYSTEM_EVENTS,
        Operation::CONTAINERS_PRUNE,
        Operation::VOLUMES_PRUNE,
        Operation::NETWORKS_PRUNE,
        Operation::IMAGES_PRUNE,
    ]
    .contains(&operation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ownership::DEFAULT_LABEL;

    fn tenant() -> Tenant {
        Tenant { label: DEFAULT_LABEL.into(), owner: "uid:1000".into() }
    }

    fn filters_of(query: &str) -> Value {
        let parsed = Query::parse(query).unwrap_or_default();
        serde_json::from_str(parsed.get("filters").ok().flatten().unwrap_or("null")).unwrap_or(Value::Null)
    }

    #[test]
    fn filters_are_narrowed_in_either_form() {
        let tenant = tenant();
        let mine = format!("{DEFAULT_LABEL}=uid:1000");
        let scoped = tenant.scope_query(Some("all=1")).unwrap_or_default();
        assert!(scoped.starts_with("all=1&filters="), "{scoped}");
        assert_eq!(filters_of(&scoped)["label"][&mine], Value::Bool(true));
        let listed = tenant.scope_query(Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")).unwrap_or_default();
        let filters = filters_of(&listed);
        assert_eq!(filters["label"]["a=b"], Value::Bool(true), "{filters}");
        assert_eq!(filters["label"][&mine], Value::Bool(true), "{filters}");
        let set =
            tenant.scope_query(Some("filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D")).unwrap_or_default();
        assert_eq!(filters_of(&set)["status"]["exited"], Value::Bool(true));
        assert!(tenant.scope_query(Some("filters=%5B%5D")).is_err());
        assert!(tenant.scope_query(Some("filters=x&filters=y")).is_err());
    }

    #[test]
    fn disk_usage_shows_only_the_tenants_objects() {
        let body = format!(
            r#"{{"LayersSize":1,"Containers":[{{"Id":"a","Labels":{{"{DEFAULT_LABEL}":"uid:1000"}}}},{{"Id":"b","Labels":{{}}}}],
            "Volumes":[{{"Name":"v","Labels":null}}],"Images":[],"BuildCache":[{{"ID":"c"}}]}}"#
        );
        let scoped: Value =
            serde_json::from_slice(&tenant().scope_df(body.as_bytes()).unwrap_or_default()).unwrap_or_default();
        assert_eq!(scoped["Containers"].as_array().map(Vec::len), Some(1));
        assert_eq!(scoped["Volumes"].as_array().map(Vec::len), Some(0));
        assert_eq!(scoped["BuildCache"].as_array().map(Vec::len), Some(1));
    }
}
