//! How WhatsApp shows a rendered message: its own plain-text formatting (`*bold*`, `_italic_`…),
//! measured in characters.

use crate::capabilities::TextFormat;
use crate::template::markup::plain_text;

/// WhatsApp's text format: a body of at most 4096 characters, an image caption of at most 1024.
pub const FORMAT: TextFormat = TextFormat {
    max_text: 4096,
    max_caption: 1024,
    write: |_source, nodes| plain_text(nodes, whatsapp_marker),
};

/// WhatsApp's formatting for the markup: `*bold*`, `_italic_`, `~strike~`, `` `code` ``,
/// ```` ```pre``` ````; links are written "text (url)" and other tags keep only their text.
fn whatsapp_marker(tag: &str) -> &'static str {
    match tag {
        "b" | "strong" => "*",
        "i" | "em" => "_",
        "s" | "strike" | "del" => "~",
        "code" => "`",
        "pre" => "```",
        _ => "",
    }
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
            (FORMAT.write)("", &nodes).text,
            "*Sale* on _all_ & more (https://x.test)"
        );
    }
}
