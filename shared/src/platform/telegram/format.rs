//! How Telegram shows a rendered message: the template's markup is Telegram's own HTML parse mode, so
//! the text goes out as written; its length is the visible text in UTF-16 code units, as Telegram
//! counts it, so a message with emoji never fails at the platform.

use crate::capabilities::{FormattedText, TextFormat};
use crate::template::markup::Node;

/// Telegram's text format: a text of at most 4096 units (counted after entity parsing), a photo
/// caption of at most 1024.
pub const FORMAT: TextFormat = TextFormat {
    write,
    max_text: 4096,
    max_caption: 1024,
};

fn write(source: &str, nodes: &[Node]) -> FormattedText {
    FormattedText {
        text: source.to_owned(),
        length: visible_len_utf16(nodes),
    }
}

/// The length Telegram counts: visible text in UTF-16 code units.
fn visible_len_utf16(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|node| {
            if let Node::Text(text) = node {
                text.encode_utf16().count()
            } else {
                0
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::markup::parse;

    #[test]
    fn the_html_goes_out_as_written_and_counts_visible_utf16_units() {
        let source = "<b>Hi</b> <a href=\"https://x.test/?a=1&amp;b=2\">shop</a> <span class=\"tg-spoiler\">s</span> &lt;3 &#128512;";
        let written = write(source, &parse(source).unwrap());
        assert_eq!(written.text, source);
        // "Hi shop s <3 " is 13 units, the emoji is a surrogate pair.
        assert_eq!(written.length, 15);
    }
}
