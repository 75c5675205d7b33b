//! Names the Docker Engine API operation a request performs and the resource it addresses.
//!
//! Matching mirrors dockerd's router (gorilla/mux): patterns are anchored, `{name}` is one segment,
//! `{name:.*}` may span slashes, methods compare case-sensitively, and the first route registered
//! wins where two match (`DELETE /containers/a/checkpoints/b` is a checkpoint delete, as in dockerd).
//! A test proves that this is the only such overlap, so the table's order matters nowhere else.
//! Classification happens once; later steps speak only in [`Operation`]s. It does not decide anything.

mod pattern;
mod routes;

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use pattern::Pattern;

/// One operation of the Engine API, such as [`Operation::CONTAINERS_CREATE`]. Code matches these
/// constants; the dotted name is for text only (policies, logs, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation(u16);

impl Operation {
    /// Its dotted name, as policies, metrics and logs spell it.
    pub fn name(self) -> &'static str {
        routes::NAMES.get(usize::from(self.0)).copied().unwrap_or("unknown")
    }

    /// The operation with this exact name.
    pub fn from_name(name: &str) -> Option<Operation> {
        routes::NAMES.binary_search(&name).ok().and_then(|i| u16::try_from(i).ok()).map(Operation)
    }

    /// Every operation, in name order.
    pub fn all() -> impl Iterator<Item = Operation> {
        (0..routes::NAMES.len()).filter_map(|i| u16::try_from(i).ok()).map(Operation)
    }

    /// A dense index, for tables keyed by operation.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The kind of object its path names, if its path names one (`containers.inspect` names a
    /// container; `containers.list` names none), as the route table declares it.
    pub fn object(self) -> Option<ObjectKind> {
        TABLE.kinds.get(usize::from(self.0)).copied().flatten()
    }

    /// Whether this operation hands the connection over to a raw stream after `101`.
    pub fn may_upgrade(self) -> bool {
        matches!(
            self,
            Operation::CONTAINERS_ATTACH
                | Operation::CONTAINERS_ATTACH_WS
                | Operation::EXEC_START
                | Operation::SESSION
                | Operation::GRPC
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a path variable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Container,
    Exec,
    Image,
    Volume,
    Network,
    Plugin,
    Service,
    Node,
    Secret,
    Config,
    Task,
    /// The engine's own diagnostics (`/debug/pprof/{name}`).
    Debug,
}

/// Compiles the route table now, so the first request does not wait for it.
pub fn warm() {
    let _ = &*TABLE;
}

/// Every route: `(method, path template, operation name)`, as dockerd registers them.
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    routes::ROUTES.iter().map(|r| (r.method, r.template, r.operation.name()))
}

/// Every route with its typed operation and the object its path names.
pub fn typed_routes() -> impl Iterator<Item = (&'static str, &'static str, Operation, Option<ObjectKind>)> {
    routes::ROUTES.iter().map(|r| (r.method, r.template, r.operation, r.object.map(|(_, kind)| kind)))
}

/// What a request is: its operation and the resource named in its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub operation: Operation,
    /// The first path variable (container, image, network, volume, exec id ...), if the route has one.
    pub resource: Option<String>,
    /// Where the resource starts in the path, so the request can be sent to the object the
    /// engine named (its full id) instead of the name the client used.
    pub resource_at: usize,
}

impl Classified {
    /// `path` with the resource replaced by `with`.
    pub fn path_naming(&self, path: &str, with: &str) -> String {
        let Some(resource) = &self.resource else { return path.to_owned() };
        let end = self.resource_at + resource.len();
        match (path.get(..self.resource_at), path.get(end..)) {
            (Some(head), Some(tail)) => format!("{head}{with}{tail}"),
            _ => path.to_owned(),
        }
    }
}

/// Why a request could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("no docker api route matches `{method} {path}`")]
    NoRoute { method: String, path: String },
    #[error("`{method} {path}` matches more than one docker api route ({})", .operations.join(", "))]
    Ambiguous { method: String, path: String, operations: Vec<&'static str> },
}

struct Route {
    method: &'static str,
    pattern: Pattern,
    operation: Operation,
}

struct Table {
    routes: Vec<Route>,
    /// Indexes into `routes`, in order, of the routes a path with this first segment may match.
    by_segment: HashMap<&'static str, Vec<usize>>,
    /// The same for a first segment no template names (only routes whose first segment varies).
    elsewhere: Vec<usize>,
    /// Indexed by operation: the kind of object its routes' first variable names.
    kinds: Vec<Option<ObjectKind>>,
    /// Routes without variables (`/_ping`, `/containers/json` ...), by path and then method, where
    /// no earlier route matches the same request: found without matching templates.
    literal: HashMap<&'static str, Vec<(&'static str, Operation)>>,
}

static TABLE: LazyLock<Table> = LazyLock::new(build_table);

/// Parses every route's template, and indexes the routes by their first segment and by their
/// exact path where they have no variables.
#[expect(clippy::expect_used, reason = "the route table is a constant; its unit tests build it")]
fn build_table() -> Table {
    let routes = routes::ROUTES
        .iter()
        .map(|r| Route {
            method: r.method,
            pattern: Pattern::parse(r.template).expect("route template parses"),
            operation: r.operation,
        })
        .collect::<Vec<Route>>();
    let mut by_segment: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for route in &routes {
        if let Some(segment) = route.pattern.first_segment() {
            by_segment.entry(segment).or_default();
        }
    }
    let mut elsewhere = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        match route.pattern.first_segment() {
            Some(segment) => by_segment.entry(segment).or_default().push(i),
            None => {
                elsewhere.push(i);
                by_segment.values_mut().for_each(|list| list.push(i));
            }
        }
    }
    let mut literal: HashMap<&'static str, Vec<(&'static str, Operation)>> = HashMap::new();
    for (i, r) in routes::ROUTES.iter().enumerate() {
        let shadowed = routes[..i]
            .iter()
            .any(|earlier| earlier.method == r.method && earlier.pattern.matches(r.template).is_some());
        if !r.template.contains('{') && !shadowed {
            literal.entry(r.template).or_default().push((r.method, r.operation));
        }
    }
    let mut kinds = vec![None; routes::NAMES.len()];
    for r in routes::ROUTES {
        if let (Some(slot), Some((_, kind))) = (kinds.get_mut(r.operation.index()), r.object) {
            *slot = Some(kind);
        }
    }
    Table { routes, by_segment, elsewhere, kinds, literal }
}

/// Classifies a request by its method and normalized, unversioned path. Like gorilla/mux, the
/// first matching route in registration order wins.
pub fn classify(method: &http::Method, path: &str) -> Result<Classified, ClassifyError> {
    let table = &*TABLE;
    let method_str = method.as_str();
    let literal = table.literal.get(path).and_then(|methods| methods.iter().find(|(m, _)| *m == method_str));
    if let Some(&(_, operation)) = literal {
        return Ok(Classified { operation, resource: None, resource_at: 0 });
    }
    by_patterns(method_str, path)
}

/// The first route in registration order whose pattern matches, as gorilla/mux picks it.
fn by_patterns(method_str: &str, path: &str) -> Result<Classified, ClassifyError> {
    let table = &*TABLE;
    let candidates = table.by_segment.get(pattern::first_segment(path)).unwrap_or(&table.elsewhere);
    let (route, captured) = candidates
        .iter()
        .filter_map(|i| table.routes.get(*i))
        .filter(|route| route.method == method_str)
        .find_map(|route| route.pattern.matches(path).map(|captured| (route, captured)))
        .ok_or_else(|| ClassifyError::NoRoute { method: method_str.to_string(), path: path.to_string() })?;
    let captured = captured.filter(|range| !range.is_empty());
    let resource_at = captured.as_ref().map_or(0, |range| range.start);
    let resource = captured.and_then(|range| path.get(range)).map(str::to_string);
    Ok(Classified { operation: route.operation, resource, resource_at })
}

#[cfg(test)]
mod tests;
