//! How Viber shows a rendered message: plain text (the Bot API has no markup of its own), links
//! written out after their text, measured in characters.

use crate::capabilities::TextFormat;

/// Viber's text format: a text message of at most 7000 characters, a picture's text of at most 768.
pub const FORMAT: TextFormat = TextFormat::plain(7000, 768);

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
