//! How Messenger shows a rendered message: plain text (it has no inline formatting), links written out.

use crate::capabilities::{FormattedText, TextFormat};
use crate::template::markup::Node;

/// Messenger's text format. Every template is checked at save time against every platform's limits,
/// so these are the common ones (a template fit for Telegram and WhatsApp stays valid); the Send API's
/// own limits (2000 characters of text, 80 of a title under a photo) are kept by
/// [`super::send`], which refuses a longer text and writes a photo with a longer text as a link.
pub const FORMAT: TextFormat = TextFormat {
    max_text: 4096,
    max_caption: 1024,
    write: |_source, nodes| {
        let text = to_plain_text(nodes).trim().to_owned();
        FormattedText {
            length: text.chars().count(),
            text,
        }
    },
};

/// The markup's text with every tag dropped; a link becomes "text (url)" unless its text is the URL.
fn to_plain_text(nodes: &[Node]) -> String {
    let mut out = String::new();
    let mut links: Vec<Option<String>> = Vec::new();
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Open { name, attributes } if name == "a" => links.push(
                attributes
                    .iter()
                    .find(|(attribute, _)| attribute == "href")
                    .map(|(_, href)| href.clone()),
            ),
            Node::Close(name) if name == "a" => {
                if let Some(Some(href)) = links.pop() {
                    if !out.ends_with(href.as_str()) {
                        out.push_str(&format!(" ({href})"));
                    }
                }
            }
            Node::Open { .. } | Node::Close(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::markup::parse;

    #[test]
    fn formatting_is_stripped_and_links_written_out() {
        let nodes = parse(
            "<b>Sale</b> on <i>all</i> &amp; <a href=\"https://x.test\">more</a> <a href=\"https://y.test\">https://y.test</a>",
        )
        .unwrap();
        assert_eq!(
            to_plain_text(&nodes),
            "Sale on all & more (https://x.test) https://y.test"
        );
    }
}
