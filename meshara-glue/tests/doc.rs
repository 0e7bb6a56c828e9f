//! docs/MESHARA.md shows the glue exactly as `src/glue.rs` has it between
//! its markers, so the documented glue is the compiled one.

use std::path::Path;

const MARK: &str = "<!-- meshara-glue/src/glue.rs, between its glue:begin and glue:end lines -->";

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?}"));
    &text[from..from + len]
}

#[test]
fn meshara_md_shows_the_compiled_glue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let glue = std::fs::read_to_string(root.join("src/glue.rs")).unwrap();
    let doc = std::fs::read_to_string(root.join("../docs/MESHARA.md")).unwrap();
    let compiled = between(&glue, "// glue:begin\n", "// glue:end\n");
    let block = between(&doc, MARK, "\n```\n");
    let opening = "```rust,ignore\n";
    let shown = &block[block.find(opening).expect("a rust,ignore block") + opening.len()..];
    assert_eq!(
        format!("{shown}\n"),
        compiled,
        "docs/MESHARA.md's glue differs from meshara-glue/src/glue.rs: copy the region over"
    );
}
