//! How WhatsApp shows a rendered message: its own plain-text formatting (`*bold*`, `_italic_`…),
//! measured in characters.

use crate::capabilities::{FormattedText, TextFormat};
use crate::template::markup::Node;

/// WhatsApp's text format: a body of at most 4096 characters, an image caption of at most 1024.
pub const FORMAT: TextFormat = TextFormat {
    max_text: 4096,
    max_caption: 1024,
    write: |_source, nodes| {
        let text = to_whatsapp_text(nodes).trim().to_owned();
        FormattedText {
            length: text.chars().count(),
            text,
        }
    },
};

/// WhatsApp's formatting for the markup: `*bold*`, `_italic_`, `~strike~`, `` `code` ``,
/// ```` ```pre``` ````, links as "text (url)"; other tags keep only their text.
fn to_whatsapp_text(nodes: &[Node]) -> String {
    let mut out = String::new();
    let mut links: Vec<Option<String>> = Vec::new();
    let marker = |name: &str| match name {
        "b" | "strong" => "*",
        "i" | "em" => "_",
        "s" | "strike" | "del" => "~",
        "code" => "`",
        "pre" => "```",
        _ => "",
    };
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Open { name, attributes } => {
                out.push_str(marker(name));
                if name == "a" {
                    links.push(
                        attributes
                            .iter()
                            .find(|(a, _)| a == "href")
                            .map(|(_, v)| v.clone()),
                    );
                }
            }
            Node::Close(name) => {
                out.push_str(marker(name));
                if name == "a" {
                    if let Some(Some(href)) = links.pop() {
                        if !out.ends_with(href.as_str()) {
                            out.push_str(&format!(" ({href})"));
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::markup::parse;

    #[test]
    fn whatsapp_text_uses_whatsapp_formatting() {
        let nodes =
            parse("<b>Sale</b> on <i>all</i> &amp; <a href=\"https://x.test\">more</a>").unwrap();
        assert_eq!(
            to_whatsapp_text(&nodes),
            "*Sale* on _all_ & more (https://x.test)"
        );
    }
}
