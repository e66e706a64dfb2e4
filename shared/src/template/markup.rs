//! The templates' neutral markup, a subset of HTML (the one Telegram's HTML parse mode accepts):
//! escaping substituted values, and checking that a rendered text uses only the supported tags,
//! properly nested, with valid entities. Each platform writes the parsed [`Node`]s its own way (see
//! [`crate::capabilities::TextFormat`]).
//!
//! Supported: `b strong i em u ins s strike del a[href] code[class=language-*] pre blockquote[expandable]
//! tg-spoiler span[class=tg-spoiler]`. Entities: `&lt; &gt; &amp; &quot;` and numeric ones.

use std::borrow::Cow;

use crate::capabilities::FormattedText;

/// Escape `&`, `<`, `>` and `"` for Telegram HTML (Telegram names no other entities).
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The tags Telegram's HTML parse mode supports.
pub const SUPPORTED_TAGS: [&str; 15] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
];

/// One piece of parsed markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Visible text, entities decoded.
    Text(String),
    /// An opening tag with its attributes.
    Open {
        /// The tag name, e.g. `b`.
        name: String,
        /// Its attributes, in order, values decoded.
        attributes: Vec<(String, String)>,
    },
    /// A closing tag.
    Close(String),
}

/// A tag as found in text, before its rules are checked.
struct RawTag {
    closing: bool,
    name: String,
    attributes: Vec<(String, String)>,
    /// Byte length of the whole tag, `<` to `>`.
    len: usize,
    /// Whether an attribute value is not in double quotes (a substituted `'` or space would end it).
    loosely_quoted: bool,
}

/// Read a tag at the start of `s` (which starts with `<`); `None` when it is not a tag.
fn read_tag(s: &str) -> Option<RawTag> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    if !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        i += 1;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    let mut loosely_quoted = false;
    loop {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => {
                return Some(RawTag {
                    closing,
                    name,
                    attributes,
                    len: i + 1,
                    loosely_quoted,
                })
            }
            b'/' if bytes.get(i + 1) == Some(&b'>') => {
                return Some(RawTag {
                    closing,
                    name,
                    attributes,
                    len: i + 2,
                    loosely_quoted,
                })
            }
            _ => {}
        }
        let attr_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        if i == attr_start {
            return None;
        }
        let attr_name = s[attr_start..i].to_ascii_lowercase();
        let mut value = String::new();
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            match bytes.get(i)? {
                quote @ (b'"' | b'\'') => {
                    loosely_quoted |= *quote == b'\'';
                    let end = s[i + 1..].find(*quote as char)? + i + 1;
                    value = decode_entities(&s[i + 1..end]).ok()?;
                    i = end + 1;
                }
                _ => {
                    loosely_quoted = true;
                    let start = i;
                    while bytes
                        .get(i)
                        .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>')
                    {
                        i += 1;
                    }
                    value = decode_entities(&s[start..i]).ok()?;
                }
            }
        }
        attributes.push((attr_name, value));
    }
}

/// Decode entities in `s`; the error names the first `&` that starts no entity.
fn decode_entities(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&end| end <= 10);
        let decoded = end.and_then(|end| match &rest[1..end] {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            numeric => {
                let code = numeric.strip_prefix('#')?;
                let value = match code.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => code.parse().ok()?,
                };
                char::from_u32(value)
            }
        });
        match (decoded, end) {
            (Some(c), Some(end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                let shown: String = rest.chars().take(12).collect();
                return Err(format!(
                    "'&' at \"{shown}\" starts no entity; write &amp; for a literal '&'"
                ));
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Why a tag is not allowed, or `None` when Telegram accepts it.
fn tag_problem(name: &str, attributes: &[(String, String)]) -> Option<String> {
    let allowed_attributes: &[&str] = match name {
        "b" | "strong" | "i" | "em" | "u" | "ins" | "s" | "strike" | "del" | "pre"
        | "tg-spoiler" => &[],
        "a" => &["href"],
        "code" => &["class"],
        "blockquote" => &["expandable"],
        "span" => &["class"],
        "br" => {
            return Some("<br> is not supported by Telegram; write a line break instead".to_owned())
        }
        other => {
            return Some(format!(
                "<{other}> is not supported by Telegram; use only {}",
                SUPPORTED_TAGS.join(", ")
            ));
        }
    };
    if let Some((attribute, _)) = attributes
        .iter()
        .find(|(a, _)| !allowed_attributes.contains(&a.as_str()))
    {
        return Some(format!("<{name}> may not have the attribute '{attribute}'"));
    }
    let value = |attribute: &str| {
        attributes
            .iter()
            .find(|(a, _)| a == attribute)
            .map(|(_, v)| v.as_str())
    };
    match name {
        "a" if value("href").is_none_or(|href| href.trim().is_empty()) => {
            Some("<a> needs an href".to_owned())
        }
        "span" if value("class") != Some("tg-spoiler") => {
            Some("<span> is only supported as <span class=\"tg-spoiler\">".to_owned())
        }
        "code" if value("class").is_some_and(|class| !class.starts_with("language-")) => {
            Some("<code class> must be 'language-<name>'".to_owned())
        }
        _ => None,
    }
}

/// The markup written as plain text, for platforms without HTML: each tag becomes `marker(tag)` (empty
/// for none) and each link's target is written after its text, "text (url)", unless the text already
/// ends with it; trimmed, with its length in characters.
pub fn plain_text(nodes: &[Node], marker: fn(&str) -> &'static str) -> FormattedText {
    let mut text = String::new();
    // The targets of the links currently open, innermost last.
    let mut open_links: Vec<String> = Vec::new();
    for node in nodes {
        match node {
            Node::Text(visible) => text.push_str(visible),
            Node::Open { name, attributes } => {
                text.push_str(marker(name));
                if name == "a" {
                    open_links.push(
                        attributes
                            .iter()
                            .find_map(|(attribute, value)| {
                                (attribute == "href").then(|| value.clone())
                            })
                            .unwrap_or_default(),
                    );
                }
            }
            Node::Close(name) => {
                text.push_str(marker(name));
                if name == "a" {
                    let target = open_links.pop().unwrap_or_default();
                    if !target.is_empty() && !text.ends_with(&target) {
                        text.push_str(&format!(" ({target})"));
                    }
                }
            }
        }
    }
    let text = text.trim().to_owned();
    FormattedText {
        length: text.chars().count(),
        text,
    }
}

/// No marker for any tag: formatting is dropped, only the text stays.
pub fn no_marker(_tag: &str) -> &'static str {
    ""
}

/// Parse a rendered Telegram HTML text, checking tags, nesting and entities. Public so a platform's
/// [`crate::capabilities::TextFormat`] can be exercised on its own (the fuzz targets do).
///
/// # Errors
/// A sentence saying what is wrong and how to fix it.
pub fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(at) = rest.find('<') else {
            nodes.push(Node::Text(decode_entities(rest)?));
            break;
        };
        if at > 0 {
            nodes.push(Node::Text(decode_entities(&rest[..at])?));
        }
        rest = &rest[at..];
        let tag = read_tag(rest).ok_or_else(|| {
            let shown: String = rest.chars().take(12).collect();
            format!("'<' at \"{shown}\" starts no supported tag; write &lt; for a literal '<'")
        })?;
        rest = &rest[tag.len..];
        if tag.closing {
            match open.pop() {
                Some(name) if name == tag.name => nodes.push(Node::Close(tag.name)),
                Some(name) => {
                    return Err(format!(
                        "</{}> closes <{name}>; close tags in the order they were opened",
                        tag.name
                    ))
                }
                None => {
                    return Err(format!(
                        "</{}> closes a tag that was never opened",
                        tag.name
                    ))
                }
            }
        } else {
            if let Some(problem) = tag_problem(&tag.name, &tag.attributes) {
                return Err(problem);
            }
            open.push(tag.name.clone());
            nodes.push(Node::Open {
                name: tag.name,
                attributes: tag.attributes,
            });
        }
    }
    match open.pop() {
        Some(name) => Err(format!("<{name}> is never closed")),
        None => Ok(nodes),
    }
}

/// Problems with the tags an author wrote in a template's source (template tags such as `{{ … }}` are
/// blanked first, so `<a href="{{ url }}">` is checked as `<a href="x">`). Checks every branch, which a
/// sample render cannot.
pub(crate) fn source_tag_problems(source: &str) -> Vec<(String, String)> {
    let blanked = blank_template_syntax(source);
    let mut problems = Vec::new();
    let mut rest = blanked.as_str();
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        match read_tag(rest) {
            Some(tag) => {
                if !tag.closing {
                    if let Some(problem) = tag_problem(&tag.name, &tag.attributes) {
                        problems.push((tag.name.clone(), problem));
                    } else if tag.loosely_quoted {
                        let problem =
                            format!("<{}>: put attribute values in double quotes", tag.name);
                        problems.push((tag.name.clone(), problem));
                    }
                }
                rest = &rest[tag.len..];
            }
            None => rest = &rest[1..],
        }
    }
    problems
}

/// Replace `{{ … }}`, `{% … %}` and `{# … #}` with `x`.
fn blank_template_syntax(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let close = match rest.as_bytes().get(1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                out.push('{');
                rest = &rest[1..];
                continue;
            }
        };
        match rest[2..].find(close) {
            Some(end) => {
                out.push('x');
                rest = &rest[2 + end + 2..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_the_four_telegram_entities() {
        assert_eq!(
            escape_html("<script>alert(\"x\") & 'y'</script>"),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; 'y'&lt;/script&gt;"
        );
        assert!(matches!(escape_html("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn supported_markup_parses_with_entities_decoded() {
        let nodes = parse("<b>Hi</b> <a href=\"https://x.test/?a=1&amp;b=2\">shop</a> <span class=\"tg-spoiler\">s</span> &lt;3 &#128512;").unwrap();
        assert_eq!(
            nodes.first(),
            Some(&Node::Open {
                name: "b".into(),
                attributes: vec![]
            })
        );
        assert_eq!(nodes.last(), Some(&Node::Text(" <3 \u{1F600}".into())));
        assert!(parse("<pre><code class=\"language-rust\">x</code></pre><blockquote expandable>q</blockquote>").is_ok());
    }

    #[test]
    fn unsupported_or_broken_markup_is_named() {
        assert!(parse("<div>x</div>").unwrap_err().contains("<div>"));
        assert!(parse("a<br>b").unwrap_err().contains("line break"));
        assert!(parse("<b>x</i>").unwrap_err().contains("</i> closes <b>"));
        assert!(parse("<b>x").unwrap_err().contains("never closed"));
        assert!(parse("x</b>").unwrap_err().contains("never opened"));
        assert!(parse("Tom & Jerry").unwrap_err().contains("&amp;"));
        assert!(parse("1 < 2").unwrap_err().contains("&lt;"));
        assert!(parse("<a>x</a>").unwrap_err().contains("href"));
        assert!(parse("<a href=\"x\" onclick=\"y\">x</a>")
            .unwrap_err()
            .contains("onclick"));
        assert!(parse("<span>x</span>").unwrap_err().contains("tg-spoiler"));
    }

    #[test]
    fn source_tags_are_checked_with_template_syntax_blanked() {
        let problems = source_tag_problems("{% if x %}<script>{{ a }}</script>{% endif %}<a href=\"{{ url }}\">ok</a><b>{{ '<i>' }}</b>");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "script");
        assert!(source_tag_problems("{{ a < b }} and {# <div> #}").is_empty());
        let single = source_tag_problems("<a href='{{ url }}'>x</a>");
        assert!(single[0].1.contains("double quotes"), "{single:?}");
    }
}
