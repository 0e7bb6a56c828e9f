//! The crate's modules point one way: this test reads the sources and fails
//! on an import that breaks the layering.
//!
//! # Rules
//!
//! 1. **Layers.** Every top-level module has a layer in [`LAYERS`]. A
//!    module may use modules of its own layer or a lower one, never a
//!    higher one. A new top-level module must be added to the table.
//! 2. **No cycle between top-level modules**, even within one layer.
//! 3. **No cycle between the files of one folder**: the files and
//!    subfolders that are children of the same module must not use each
//!    other in a circle (checked at every depth). A module's root file
//!    (`mod.rs`, or `x.rs` for the folder `x/`) is not one of its children:
//!    it declares and re-exports them, and they may use its items, as when
//!    `impl Node` is split over several files.
//! 4. **Facades are transparent.** `error` only re-exports errors defined
//!    beside their concern, and the crate root only re-exports; a reference
//!    through them counts as a reference to the module that defines the
//!    item (`crate::error::DhtError` is a use of `runtime`), and their own
//!    re-exports are not checked.
//!
//! # What counts as a reference
//!
//! The check is text-based. It reads `src/lib.rs` and every file reached
//! from it through `mod` declarations (so never `src/bin/`), drops comments
//! and everything under `#[cfg(test)]` (test modules and test files may
//! import anything), and collects:
//!
//! - `use` declarations whose path starts with `crate::`, `super::`,
//!   `self::` or a child module's name (braced groups are expanded);
//! - `crate::...`, `super::...` and `self::...` paths in code;
//! - such paths inside string literals (`#[serde(with = "crate::...")]`).
//!
//! A reference is followed through `use` and `pub use` re-exports to the
//! file that defines the item. A reference from a file to one of its own
//! ancestors or descendants is not an edge between siblings; any other
//! reference is an edge between the two children of the modules' deepest
//! common ancestor: between top-level modules for rules 1 and 2, between
//! the children of a folder for rule 3.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// The layer order, lowest first: `(module, layer, what it owns)`. A module
/// may use modules of its own layer or below.
///
/// `config` imports nothing from the crate; it sits right below the three
/// modules that first read it (`routing`, `store`, `lookup`), so it may
/// name protocol types in its defaults but never the engine.
const LAYERS: &[(&str, u32, &str)] = &[
    ("id", 0, "160-bit ids, XOR distance"),
    ("identity", 1, "keypair, signatures, key proofs, key file"),
    (
        "record",
        2,
        "records, their size limits, refusals, key schemes",
    ),
    ("wire", 3, "messages, codec, datagram limits"),
    ("config", 4, "every tunable"),
    ("routing", 5, "k-buckets, routing table"),
    ("store", 5, "record and provider store"),
    ("lookup", 5, "iterative lookups"),
    ("node", 6, "the sans-IO engine"),
    ("runtime", 7, "tokio driver, Dht handle"),
    ("sim", 7, "deterministic simulator"),
    ("meshara", 8, "Meshara adapter (builds on runtime)"),
];

/// Top-level modules that only re-export: references through them resolve
/// to the defining module, and their own `pub use` lines are not checked.
const FACADES: &[&str] = &["error"];

#[test]
fn modules_point_one_way_and_have_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let krate = Crate::load(|rel| std::fs::read_to_string(src.join(rel)).ok());
    let problems = krate.problems();
    assert!(problems.is_empty(), "{}", report(&problems));
}

/// The failure message: every problem, then the rules and the table.
fn report(problems: &[String]) -> String {
    let mut out = format!("{} layering problem(s) in src/:\n\n", problems.len());
    for p in problems {
        let _ = writeln!(out, "- {p}\n");
    }
    out.push_str("Layer order (a module may use its own layer or lower; see tests/layers.rs):\n");
    for (module, layer, owns) in LAYERS {
        let _ = writeln!(out, "  {layer}  {module:<9} {owns}");
    }
    out
}

// ---------------------------------------------------------------------------
// Self-checks on small made-up crates, so a broken parser cannot pass the
// real check by finding nothing.

fn fake(files: &[(&str, &str)]) -> Vec<String> {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    Crate::load(|rel| files.get(rel).cloned()).problems()
}

#[test]
fn an_upward_use_and_the_cycle_it_closes_are_reported() {
    let problems = fake(&[
        ("lib.rs", "pub mod id;\npub mod wire;\n"),
        ("id.rs", "use crate::wire::Message;\npub struct NodeId;\n"),
        ("wire.rs", "use crate::id::NodeId;\npub struct Message;\n"),
    ]);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("`id` (layer 0) uses `wire` (layer 3)"));
    assert!(problems[0].contains("id.rs:1"));
    assert!(problems[1].contains("cycle between top-level modules: id -> wire -> id"));
}

#[test]
fn a_cycle_between_sibling_files_is_reported_but_not_one_with_their_root() {
    let problems = fake(&[
        ("lib.rs", "mod routing;\n"),
        (
            "routing/mod.rs",
            "mod a;\nmod b;\npub use a::A;\nuse b::B;\npub struct Root;\n",
        ),
        ("routing/a.rs", "use super::{Root, B};\npub struct A;\n"),
        (
            "routing/b.rs",
            "pub struct B;\nfn f() { let _ = super::A; let _ = super::Root; }\n",
        ),
    ]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0]
        .contains("cycle between files in src/routing/: routing::a -> routing::b -> routing::a"));
}

#[test]
fn a_facade_that_defines_an_item_is_reported() {
    let problems = fake(&[
        ("lib.rs", "pub mod error;\npub mod id;\n"),
        (
            "error.rs",
            "pub use crate::id::IdError;\n\npub enum Other {}\n",
        ),
        ("id.rs", "pub struct IdError;\n"),
    ]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("src/error.rs:3 has `enum`"));
}

#[test]
fn tests_comments_and_facades_do_not_count() {
    let problems = fake(&[
        ("lib.rs", "pub mod error;\npub mod id;\npub mod node;\n"),
        (
            "error.rs",
            "pub use crate::node::NodeError;\npub use crate::id::IdError;\n",
        ),
        (
            "id.rs",
            "pub struct IdError;\n// use crate::node::Node;\n/* crate::node::Node */\n\
             #[cfg(test)]\nmod tests { use crate::node::Node; }\n#[cfg(test)]\nmod more;\n",
        ),
        ("id/more.rs", "use crate::node::Node;\n"),
        (
            "node.rs",
            "use crate::error::IdError;\npub struct Node;\npub struct NodeError;\n",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:#?}");
}

// ---------------------------------------------------------------------------
// The crate model.

/// A module path from the crate root: `["routing", "bucket"]`.
type ModPath = Vec<String>;

/// One source file of the library.
struct File {
    /// Path relative to `src/`.
    path: String,
    /// Its module.
    module: ModPath,
    /// Names bound by its file-level `use` declarations, to the absolute
    /// path they stand for (so re-exports can be followed).
    bindings: BTreeMap<String, ModPath>,
    /// Everything it refers to: `(absolute path, line, as written)`.
    refs: Vec<(ModPath, usize, String)>,
    /// Its first token outside `use` declarations and attributes, with its
    /// line: a facade must have none.
    first_item: Option<(String, usize)>,
}

struct Crate {
    files: Vec<File>,
    by_module: BTreeMap<ModPath, usize>,
}

/// An edge between two sibling modules, with the reference that makes it.
struct Edge {
    from: ModPath,
    to: ModPath,
    at: String,
}

impl Crate {
    /// Reads `lib.rs` and every file reached through non-test `mod`
    /// declarations; `read` maps a path relative to `src/` to its text.
    fn load(read: impl Fn(&str) -> Option<String>) -> Crate {
        let mut krate = Crate {
            files: Vec::new(),
            by_module: BTreeMap::new(),
        };
        let mut pending = vec![("lib.rs".to_string(), Vec::<String>::new())];
        while let Some((path, module)) = pending.pop() {
            let Some(text) = read(&path) else {
                panic!("tests/layers.rs: cannot read src/{path} (module {module:?})");
            };
            let tokens = drop_test_items(tokenize(&strip(&text)));
            let parsed = parse(&tokens, &module);
            let dir = child_dir(&path);
            for (name, path_attr) in &parsed.child_files {
                let mut child = module.clone();
                child.push(name.clone());
                let file = match path_attr {
                    Some(p) => join(parent_dir(&path), p),
                    None => {
                        let flat = join(&dir, &format!("{name}.rs"));
                        if read(&flat).is_some() {
                            flat
                        } else {
                            join(&dir, &format!("{name}/mod.rs"))
                        }
                    }
                };
                pending.push((file, child));
            }
            krate.by_module.insert(module.clone(), krate.files.len());
            krate.files.push(File {
                path,
                module,
                bindings: parsed.bindings,
                refs: parsed.refs,
                first_item: parsed.first_item,
            });
        }
        krate
    }

    /// The file that defines what `path` names, following re-exports; `None`
    /// for paths outside the crate.
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        let mut k = path.len();
        while k > 0 && !self.by_module.contains_key(&path[..k]) {
            k -= 1;
        }
        let file = self.by_module[&path[..k]];
        if k == path.len() || depth > 16 {
            return Some(file);
        }
        match self.files[file].bindings.get(&path[k]) {
            Some(target) => {
                let mut next = target.clone();
                next.extend_from_slice(&path[k + 1..]);
                if next.as_slice() == path {
                    return Some(file);
                }
                self.resolve(&next, depth + 1)
            }
            None => Some(file),
        }
    }

    /// Every edge between sibling modules, skipping facades and the root.
    fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for f in &self.files {
            if f.module.is_empty() || FACADES.contains(&f.module[0].as_str()) {
                continue;
            }
            for (path, line, written) in &f.refs {
                let Some(target) = self.resolve(path, 0) else {
                    continue;
                };
                let to = &self.files[target].module;
                let common = f.module.iter().zip(to).take_while(|(a, b)| a == b).count();
                if common == f.module.len() || common == to.len() {
                    continue; // an ancestor or a descendant
                }
                if common == 0 && FACADES.contains(&to[0].as_str()) {
                    continue;
                }
                edges.push(Edge {
                    from: f.module[..=common].to_vec(),
                    to: to[..=common].to_vec(),
                    at: format!("src/{}:{line} uses `{written}`", f.path),
                });
            }
        }
        edges
    }

    /// Every broken rule, as readable sentences.
    fn problems(&self) -> Vec<String> {
        let edges = self.edges();
        let mut problems = Vec::new();
        let layer = |m: &str| LAYERS.iter().find(|(n, _, _)| *n == m).map(|l| l.1);

        // Rule 4: a facade only re-exports.
        for f in &self.files {
            if let (Some(top), Some((token, line))) = (f.module.first(), &f.first_item) {
                if f.module.len() == 1 && FACADES.contains(&top.as_str()) {
                    problems.push(format!(
                        "`{top}` is a facade and may only re-export (`pub use`), but \
                         src/{}:{line} has `{token}`: define the item beside its concern",
                        f.path
                    ));
                }
            }
        }

        // Rule 1: layers. One problem per pair of modules, listing the uses.
        let mut upward: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for e in edges.iter().filter(|e| e.from.len() == 1) {
            upward
                .entry((&e.from[0], &e.to[0]))
                .or_default()
                .push(&e.at);
        }
        let mut unknown = BTreeSet::new();
        for ((from, to), uses) in upward {
            match (layer(from), layer(to)) {
                (Some(a), Some(b)) if a < b => problems.push(format!(
                    "layer violation: `{from}` (layer {a}) uses `{to}` (layer {b}), a higher \
                     layer; move the item down or the code up:\n    {}",
                    uses.join("\n    ")
                )),
                (Some(_), Some(_)) => {}
                _ => {
                    unknown.extend([from, to].into_iter().filter(|m| layer(m).is_none()));
                }
            }
        }
        for m in unknown {
            problems.push(format!(
                "top-level module `{m}` is not in the layer table LAYERS"
            ));
        }

        // Rules 2 and 3: cycles among the children of each module.
        let mut graphs: BTreeMap<ModPath, BTreeMap<ModPath, BTreeMap<ModPath, &Edge>>> =
            BTreeMap::new();
        for e in &edges {
            let parent = e.from[..e.from.len() - 1].to_vec();
            graphs
                .entry(parent)
                .or_default()
                .entry(e.from.clone())
                .or_default()
                .entry(e.to.clone())
                .or_insert(e);
        }
        for (parent, graph) in &graphs {
            for cycle in cycles(graph) {
                let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
                let mut ring = names.join(" -> ");
                ring.push_str(" -> ");
                ring.push_str(&names[0]);
                let mut why = String::new();
                for (i, m) in cycle.iter().enumerate() {
                    let next = &cycle[(i + 1) % cycle.len()];
                    let _ = write!(why, "\n    {}", graph[m][next].at);
                }
                let place = if parent.is_empty() {
                    "top-level modules".to_string()
                } else {
                    let file = &self.files[self.by_module[parent]].path;
                    format!("files in src/{}/", child_dir(file))
                };
                problems.push(format!("import cycle between {place}: {ring}{why}"));
            }
        }
        problems
    }
}

/// The cycles of a graph: each strongly connected component of two or more
/// nodes, in the order of one circuit through it.
fn cycles(graph: &BTreeMap<ModPath, BTreeMap<ModPath, &Edge>>) -> Vec<Vec<ModPath>> {
    let nodes: BTreeSet<&ModPath> = graph
        .iter()
        .flat_map(|(from, tos)| std::iter::once(from).chain(tos.keys()))
        .collect();
    let reaches = |from: &ModPath| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in graph.get(&n).into_iter().flat_map(|t| t.keys()) {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&ModPath, BTreeSet<ModPath>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reach[n].contains(*n) {
            continue;
        }
        let component: BTreeSet<ModPath> = reach[n]
            .iter()
            .filter(|m| reach[m].contains(*n))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        if component.len() < 2 {
            continue;
        }
        // The shortest circuit through `n`, by breadth-first search.
        let mut parent: BTreeMap<ModPath, ModPath> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([(*n).clone()]);
        let mut last = None;
        while let Some(m) = queue.pop_front() {
            if graph[&m].contains_key(*n) {
                last = Some(m);
                break;
            }
            for next in graph[&m].keys().filter(|k| component.contains(*k)) {
                if next != *n && !parent.contains_key(next) {
                    parent.insert(next.clone(), m.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut path = vec![last.expect("a component of two or more nodes has a circuit")];
        while let Some(p) = parent.get(path.last().unwrap()) {
            path.push(p.clone());
        }
        path.reverse();
        out.push(path);
    }
    out
}

// ---------------------------------------------------------------------------
// Text to tokens.

/// The source with comments blanked, char literals blanked, and string
/// contents blanked unless the string is a Rust path or a file name (kept
/// for `#[serde(with = "crate::...")]` and `#[path = "x.rs"]`). Newlines are
/// kept, so lines still count.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }))
    };
    let keep_or_blank = |out: &mut String, s: &[char]| {
        let content: String = s.iter().collect();
        if is_path(&content) || content.ends_with(".rs") {
            out.push_str(&content);
        } else {
            blank(out, s);
        }
    };
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            let end = c[i..]
                .iter()
                .position(|&x| x == '\n')
                .map_or(c.len(), |p| i + p);
            blank(&mut out, &c[i..end]);
            i = end;
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let (mut j, mut depth) = (i + 2, 1);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &c[i..j]);
            i = j;
        } else if let Some((hashes, body)) = raw_string_start(&c, i) {
            let mut j = body;
            while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')))
            {
                j += 1;
            }
            let j = j.min(c.len());
            blank(&mut out, &c[i..body - 1]);
            out.push('"');
            keep_or_blank(&mut out, &c[body..j]);
            out.push('"');
            blank(
                &mut out,
                &c[(j + 1).min(c.len())..(j + 1 + hashes).min(c.len())],
            );
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            let j = j.min(c.len());
            out.push('"');
            keep_or_blank(&mut out, &c[i + 1..j]);
            out.push('"');
            i = j + 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if c.get(i + 1) == Some(&'\\') {
                c[i + 2..]
                    .iter()
                    .position(|&x| x == '\'')
                    .map(|p| i + 2 + p)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    blank(&mut out, &c[i..=e]);
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `(hashes, index of the first content char)` when a raw string
/// (`r"..."`, `r#"..."#`, `br"..."`) starts at `i`.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let k = match (c[i], c.get(i + 1)) {
        ('r', _) => i + 1,
        ('b', Some('r')) => i + 2,
        _ => return None,
    };
    let hashes = c[k..].iter().take_while(|&&x| x == '#').count();
    (c.get(k + hashes) == Some(&'"')).then_some((hashes, k + hashes + 1))
}

/// Whether a string literal's content is a Rust path into the crate.
fn is_path(s: &str) -> bool {
    let first = s.split("::").next().unwrap_or("");
    matches!(first, "crate" | "super" | "self")
        && s.split("::")
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Str(String),
    Punct(char),
}

/// `(token, line)` pairs of stripped source.
fn tokenize(s: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let j = c[i..]
                .iter()
                .position(|x| !(x.is_alphanumeric() || *x == '_'))
                .map_or(c.len(), |p| i + p);
            out.push((Tok::Ident(c[i..j].iter().collect()), line));
            i = j;
        } else if ch.is_ascii_digit() {
            let j = c[i..]
                .iter()
                .position(|x| !(x.is_alphanumeric() || *x == '_'))
                .map_or(c.len(), |p| i + p);
            i = j;
        } else if ch == '"' {
            let j = c[i + 1..]
                .iter()
                .position(|&x| x == '"')
                .map_or(c.len(), |p| i + 1 + p);
            let text: String = c[i + 1..j].iter().collect();
            out.push((Tok::Str(text.trim().to_string()), line));
            line += c[i..j.min(c.len())].iter().filter(|&&x| x == '\n').count();
            i = j + 1;
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else if ch == '\'' {
            // A lifetime: skip its name.
            let j = c[i + 1..]
                .iter()
                .position(|x| !(x.is_alphanumeric() || *x == '_'))
                .map_or(c.len(), |p| i + 1 + p);
            i = j;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

fn is_punct(t: Option<&(Tok, usize)>, ch: char) -> bool {
    matches!(t, Some((Tok::Punct(c), _)) if *c == ch)
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// The end (exclusive) of the bracketed group opening at `open`.
fn group_end(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0i32;
    for (i, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Whether the attribute tokens between `[` and `]` say `cfg(test)` (or
/// `cfg(all(test, ...))`).
fn is_test_cfg(attr: &[(Tok, usize)]) -> bool {
    let words: Vec<String> = attr
        .iter()
        .map(|(t, _)| match t {
            Tok::Ident(s) => s.clone(),
            Tok::Punct(c) => c.to_string(),
            Tok::Path => "::".into(),
            Tok::Str(s) => format!("{s:?}"),
        })
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    w == ["cfg", "(", "test", ")"] || w.starts_with(&["cfg", "(", "all", "(", "test"])
}

/// The tokens without the items under `#[cfg(test)]` (and nothing at all
/// for a file that opens with `#![cfg(test)]`).
fn drop_test_items(toks: Vec<(Tok, usize)>) -> Vec<(Tok, usize)> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if matches!(toks[i].0, Tok::Punct('#')) {
            let inner = is_punct(toks.get(i + 1), '!');
            let open = if inner { i + 2 } else { i + 1 };
            if is_punct(toks.get(open), '[') {
                let end = group_end(&toks, open);
                if is_test_cfg(&toks[open + 1..end - 1]) {
                    if inner {
                        return Vec::new();
                    }
                    i = item_end(&toks, end);
                    continue;
                }
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// The end (exclusive) of the item starting at `start`, its remaining
/// attributes included: a `;` or `,` at depth 0, the `}` that closes its
/// body, or the bracket that closes the enclosing group.
fn item_end(toks: &[(Tok, usize)], start: usize) -> usize {
    let mut depth = 0i32;
    let mut i = start;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth < 0 {
                    return i;
                }
                if depth == 0 && matches!(toks[i].0, Tok::Punct('}')) {
                    return i + 1;
                }
            }
            Tok::Punct(';' | ',') if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

// ---------------------------------------------------------------------------
// Tokens to references.

struct Parsed {
    /// `mod name;` declarations, with their `#[path]` if any.
    child_files: Vec<(String, Option<String>)>,
    bindings: BTreeMap<String, ModPath>,
    refs: Vec<(ModPath, usize, String)>,
    first_item: Option<(String, usize)>,
}

/// Finds the file's child modules, `use` bindings and references.
fn parse(toks: &[(Tok, usize)], module: &[String]) -> Parsed {
    // Inline modules: `mod name { ... }` spans, for `super::` inside them,
    // and every module name declared here, inline or not.
    let mut inline: Vec<(usize, usize, String)> = Vec::new();
    let mut child_files = Vec::new();
    let mut children = BTreeSet::new();
    for i in 0..toks.len() {
        if ident(toks.get(i)) != Some("mod") {
            continue;
        }
        let Some(name) = ident(toks.get(i + 1)) else {
            continue;
        };
        if is_punct(toks.get(i + 2), '{') {
            inline.push((i + 2, group_end(toks, i + 2), name.to_string()));
            children.insert(name.to_string());
        } else if is_punct(toks.get(i + 2), ';') {
            let mut path_attr = None;
            // `#[path = "x.rs"]` right before the declaration.
            let mut j = i;
            while j >= 2 && is_punct(toks.get(j - 1), ']') {
                let Some(open) = (0..j - 1)
                    .rev()
                    .find(|&k| is_punct(toks.get(k), '[') && group_end(toks, k) == j)
                else {
                    break;
                };
                if ident(toks.get(open + 1)) == Some("path") {
                    if let Some((Tok::Str(p), _)) = toks.get(open + 3) {
                        path_attr = Some(p.clone());
                    }
                }
                j = open.saturating_sub(1);
                if !is_punct(toks.get(j), '#') {
                    break;
                }
            }
            child_files.push((name.to_string(), path_attr));
            children.insert(name.to_string());
        }
    }
    let module_at = |pos: usize| {
        let mut m = module.to_vec();
        for (open, end, name) in &inline {
            if *open < pos && pos < *end {
                m.push(name.clone());
            }
        }
        m
    };
    let depth_at = |pos: usize| {
        inline
            .iter()
            .filter(|(o, e, _)| *o < pos && pos < *e)
            .count()
    };

    let mut bindings = BTreeMap::new();
    let mut refs = Vec::new();
    let mut in_use = vec![false; toks.len()];
    for i in 0..toks.len() {
        if ident(toks.get(i)) != Some("use") {
            continue;
        }
        let end = (i..toks.len())
            .find(|&k| is_punct(toks.get(k), ';'))
            .unwrap_or(toks.len());
        in_use[i..end].iter_mut().for_each(|b| *b = true);
        let here = module_at(i);
        let mut leaves = Vec::new();
        use_tree(&toks[i + 1..end], Vec::new(), &mut leaves);
        for (path, alias) in leaves {
            let written = path.join("::");
            let Some(abs) = absolute(&path, &here, &children, depth_at(i) == 0) else {
                continue;
            };
            if let Some(name) = alias.or_else(|| path.last().cloned()) {
                if depth_at(i) == 0 && name != "*" && name != "self" {
                    bindings.insert(name, abs.clone());
                }
            }
            let abs = if abs.last().map(String::as_str) == Some("*") {
                abs[..abs.len() - 1].to_vec()
            } else {
                abs
            };
            refs.push((abs, toks[i].1, written));
        }
    }
    for i in 0..toks.len() {
        if in_use[i] {
            continue;
        }
        let path = match &toks[i].0 {
            Tok::Str(s) if is_path(s) => s.split("::").map(String::from).collect(),
            Tok::Ident(s)
                if matches!(s.as_str(), "crate" | "super" | "self")
                    && matches!(toks.get(i + 1), Some((Tok::Path, _)))
                    && !matches!(i.checked_sub(1).map(|k| &toks[k].0), Some(Tok::Path)) =>
            {
                let mut path = vec![s.clone()];
                let mut k = i + 1;
                while matches!(toks.get(k), Some((Tok::Path, _))) {
                    match ident(toks.get(k + 1)) {
                        Some(seg) => path.push(seg.to_string()),
                        None => break,
                    }
                    k += 2;
                }
                path
            }
            _ => continue,
        };
        if let Some(abs) = absolute(&path, &module_at(i), &children, false) {
            refs.push((abs, toks[i].1, path.join("::")));
        }
    }
    // The first token that is not part of a `use` or an attribute.
    let mut first_item = None;
    let mut i = 0;
    while i < toks.len() {
        if is_punct(toks.get(i), '#') {
            let open = if is_punct(toks.get(i + 1), '!') {
                i + 2
            } else {
                i + 1
            };
            i = group_end(toks, open);
        } else if in_use[i] || is_punct(toks.get(i), ';') {
            i += 1;
        } else if ident(toks.get(i)) == Some("pub") {
            // `pub use`, `pub(crate) use`: the `use` itself is skipped above.
            i += 1;
            if is_punct(toks.get(i), '(') {
                i = group_end(toks, i);
            }
        } else {
            let text = match &toks[i].0 {
                Tok::Ident(s) | Tok::Str(s) => s.clone(),
                Tok::Path => "::".into(),
                Tok::Punct(c) => c.to_string(),
            };
            first_item = Some((text, toks[i].1));
            break;
        }
    }
    Parsed {
        child_files,
        bindings,
        refs,
        first_item,
    }
}

/// Expands a `use` tree into `(path, alias)` leaves.
fn use_tree(
    toks: &[(Tok, usize)],
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    let mut i = 0;
    if matches!(toks.first(), Some((Tok::Path, _))) {
        return; // `::extern_crate`
    }
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Ident(s) if s == "as" => {
                let alias = ident(toks.get(i + 1)).map(String::from);
                out.push((path, alias));
                return;
            }
            Tok::Ident(s) => path.push(s.clone()),
            Tok::Punct('*') => path.push("*".into()),
            Tok::Path => {}
            Tok::Punct('{') => {
                let end = group_end(toks, i);
                let inner = &toks[i + 1..end - 1];
                let mut start = 0;
                let mut depth = 0;
                for (k, (t, _)) in inner.iter().enumerate() {
                    match t {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => {
                            use_tree(&inner[start..k], path.clone(), out);
                            start = k + 1;
                        }
                        _ => {}
                    }
                }
                use_tree(&inner[start..], path.clone(), out);
                return;
            }
            _ => return,
        }
        i += 1;
    }
    if let Some(last) = path.last() {
        if last == "self" {
            path.pop();
            let name = path.last().cloned();
            out.push((path, name));
            return;
        }
    }
    if !path.is_empty() {
        out.push((path, None));
    }
}

/// The absolute module path of `path` written in module `here`, or `None`
/// when it leaves the crate. A first segment naming a child module of the
/// file counts only in `use` declarations at file level.
fn absolute(
    path: &[String],
    here: &[String],
    children: &BTreeSet<String>,
    use_at_top: bool,
) -> Option<ModPath> {
    let first = path.first()?;
    let mut base = here.to_vec();
    let mut rest = path;
    match first.as_str() {
        "crate" => {
            base.clear();
            rest = &path[1..];
        }
        "self" => rest = &path[1..],
        "super" => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        name if use_at_top && children.contains(name) => {}
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

// ---------------------------------------------------------------------------
// Paths relative to `src/`.

/// The folder a file's `mod x;` children live in: `a/mod.rs` and `lib.rs`
/// hold them beside themselves, `a/b.rs` in `a/b/`.
fn child_dir(file: &str) -> String {
    let (dir, name) = file.rsplit_once('/').unwrap_or(("", file));
    if name == "mod.rs" || (dir.is_empty() && name == "lib.rs") {
        dir.to_string()
    } else {
        join(dir, name.trim_end_matches(".rs"))
    }
}

fn parent_dir(file: &str) -> &str {
    file.rsplit_once('/').map_or("", |(d, _)| d)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
