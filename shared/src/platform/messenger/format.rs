//! How Messenger shows a rendered message: plain text (it has no inline formatting), links written out.

use crate::capabilities::TextFormat;

/// Messenger's text format. Every template is checked at save time against every platform's limits,
/// so these are the common ones (a template fit for Telegram and WhatsApp stays valid); the Send API's
/// own limits (2000 characters of text, 80 of a title under a photo) are kept by
/// [`super::send`], which refuses a longer text and writes a photo with a longer text as a link.
pub const FORMAT: TextFormat = TextFormat::plain(4096, 1024);

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
            (FORMAT.write)("", &nodes).text,
            "Sale on all & more (https://x.test) https://y.test"
        );
    }
}
