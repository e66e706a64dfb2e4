//! The neutral markup parser (`template::markup`) and each platform's writing of parsed markup, on any
//! text: parsed markup is properly nested and uses only supported tags; an escaped text always parses
//! back to itself; every platform reports the length it writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spinpost::platform::Platform;
use spinpost::template::markup::{self, Node};
use spinpost::template::{escape_html, SUPPORTED_TAGS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // Any text, escaped as substituted values are, is one text node equal to itself.
    let escaped = escape_html(text);
    let expected = if text.is_empty() {
        Vec::new()
    } else {
        vec![Node::Text(text.to_owned())]
    };
    assert_eq!(
        markup::parse(&escaped),
        Ok(expected),
        "escaped text did not parse back"
    );

    let Ok(nodes) = markup::parse(text) else {
        return;
    };
    let mut open: Vec<&str> = Vec::new();
    for node in &nodes {
        match node {
            Node::Text(visible) => assert!(!visible.is_empty(), "empty text node"),
            Node::Open { name, .. } => {
                assert!(
                    SUPPORTED_TAGS.contains(&name.as_str()),
                    "unsupported <{name}>"
                );
                open.push(name);
            }
            Node::Close(name) => assert_eq!(open.pop(), Some(name.as_str()), "misnested"),
        }
    }
    assert!(open.is_empty(), "unclosed tags {open:?}");

    let visible: String = nodes
        .iter()
        .filter_map(|node| match node {
            Node::Text(visible) => Some(visible.as_str()),
            _ => None,
        })
        .collect();
    for platform in Platform::ALL {
        let written = (platform.text_format().write)(text, &nodes);
        if platform == Platform::Telegram {
            // Telegram takes the HTML as written and counts its visible UTF-16 units.
            assert_eq!(written.text, text);
            assert_eq!(written.length, visible.encode_utf16().count());
        } else {
            assert_eq!(written.length, written.text.chars().count(), "{platform:?}");
            assert_eq!(
                written.text,
                written.text.trim(),
                "{platform:?} text not trimmed"
            );
        }
    }
});
