//! How Viber shows a rendered message: plain text (the Bot API has no markup of its own), links
//! written out after their text, measured in characters.

use crate::capabilities::{FormattedText, TextFormat};
use crate::template::markup::Node;

/// Viber's text format: a text message of at most 7000 characters, a picture's text of at most 768.
pub const FORMAT: TextFormat = TextFormat {
    max_caption: 768,
    max_text: 7000,
    write: |_source, nodes| plain_text(nodes),
};

/// The visible text of the markup, each link's target after its text (unless the text is the URL),
/// trimmed and counted in characters.
fn plain_text(nodes: &[Node]) -> FormattedText {
    let mut text = String::new();
    // The targets of the links currently open, innermost last.
    let mut open_links: Vec<String> = Vec::new();
    for node in nodes {
        match node {
            Node::Text(visible) => text.push_str(visible),
            Node::Open { name, attributes } if name == "a" => open_links.push(
                attributes
                    .iter()
                    .find_map(|(attribute, value)| (attribute == "href").then(|| value.clone()))
                    .unwrap_or_default(),
            ),
            Node::Close(name) if name == "a" => {
                let target = open_links.pop().unwrap_or_default();
                if !target.is_empty() && !text.ends_with(&target) {
                    text = format!("{text} ({target})");
                }
            }
            Node::Open { .. } | Node::Close(_) => {}
        }
    }
    let text = text.trim().to_owned();
    FormattedText {
        length: text.chars().count(),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::markup::parse;

    #[test]
    fn markup_becomes_plain_text_with_links_written_out() {
        let source = "<b>Sale</b> on <i>all</i> &amp; <a href=\"https://x.test\">more</a>, <a href=\"https://y.test\">https://y.test</a> ✓";
        let written = (FORMAT.write)(source, &parse(source).unwrap());
        assert_eq!(
            written.text,
            "Sale on all & more (https://x.test), https://y.test ✓"
        );
        assert_eq!(written.length, written.text.chars().count());
        assert_eq!(FORMAT.limit(true), 768);
        assert_eq!(FORMAT.limit(false), 7000);
    }
}
