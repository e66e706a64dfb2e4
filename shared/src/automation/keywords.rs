//! The keyword matcher of a rule on `message.received` (the FAQ bot): which inbound texts it answers,
//! and for which locales. Where it answers is the rule's own `channels`.
//!
//! Texts and keywords are compared as sequences of words: lowercased the Unicode way, split at
//! everything that is neither a letter, a digit nor a combining mark. So `"Hours?"`, `" opening HOURS "`
//! and `"hours!!"` all contain the keyword `hours`, `"Öffnungszeiten"` matches `öffnungszeiten`, and
//! a keyword of several words (`opening hours`) matches those words in a row. A keyword never matches
//! part of a word (`hours` does not match `hoursly`).

use serde::{Deserialize, Serialize};

use super::rule::EventName;
use super::triggers::MESSAGE_RECEIVED;
use crate::error::{Error, Result};
use crate::subscriber::Locale;

/// The most keywords one rule may list.
pub const MAX_KEYWORDS: usize = 50;
/// The longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 100;
/// The most locales one rule may be restricted to.
pub const MAX_LOCALES: usize = 20;
/// The highest priority of a keyword rule (and, negated, the lowest).
pub const MAX_PRIORITY: i32 = 1000;

/// How a keyword must appear in a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMode {
    /// Anywhere in the message, as whole words (`hours` in `"opening hours?"`).
    #[default]
    Word,
    /// As the whole message, punctuation and case aside (`hours` in `"Hours?"`, not in `"opening hours"`).
    Whole,
}

/// Which inbound texts a rule answers, as the API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordMatch {
    /// The message must contain one of these (1 to [`MAX_KEYWORDS`]).
    pub keywords: Vec<String>,
    /// How a keyword must appear.
    #[serde(default, skip_serializing_if = "is_default_mode")]
    pub mode: KeywordMode,
    /// Only for people with one of these locales (or their language: `pt` covers `pt-BR`); everyone
    /// when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locales: Vec<Locale>,
}

fn is_default_mode(mode: &KeywordMode) -> bool {
    *mode == KeywordMode::default()
}

impl KeywordMatch {
    /// Check the limits and that every keyword has a word in it.
    ///
    /// # Errors
    /// `invalid_keywords` saying which keyword or list is wrong.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Error::invalid("invalid_keywords", message);
        if self.keywords.is_empty() || self.keywords.len() > MAX_KEYWORDS {
            return Err(invalid(format!(
                "match.keywords must list 1 to {MAX_KEYWORDS} keywords (it lists {})",
                self.keywords.len()
            )));
        }
        for keyword in &self.keywords {
            if keyword.chars().count() > MAX_KEYWORD_CHARS {
                return Err(invalid(format!(
                    "keyword '{}…' is longer than {MAX_KEYWORD_CHARS} characters",
                    keyword.chars().take(20).collect::<String>()
                )));
            }
            if words(keyword).is_empty() {
                return Err(invalid(format!(
                    "keyword '{keyword}' has no letters or digits to match"
                )));
            }
        }
        if self.locales.len() > MAX_LOCALES {
            return Err(invalid(format!(
                "match.locales may list at most {MAX_LOCALES} locales"
            )));
        }
        Ok(())
    }

    /// Whether `text`, written by a person of `locale`, is answered by this matcher.
    pub fn matches(&self, text: &str, locale: Option<&Locale>) -> bool {
        self.applies_to(locale) && self.finds_keyword_in(text)
    }

    /// An exact locale matches, and so does a rule's bare language for any variant of it (`pt` for
    /// `pt-BR`); a person of unknown locale is answered only by rules for every locale.
    fn applies_to(&self, locale: Option<&Locale>) -> bool {
        if self.locales.is_empty() {
            return true;
        }
        let Some(locale) = locale else {
            return false;
        };
        self.locales.iter().any(|wanted| {
            wanted == locale
                || (wanted.as_str() == wanted.language() && wanted.language() == locale.language())
        })
    }

    fn finds_keyword_in(&self, text: &str) -> bool {
        let text = words(text);
        self.keywords.iter().any(|keyword| {
            let keyword = words(keyword);
            match self.mode {
                KeywordMode::Whole => text == keyword,
                KeywordMode::Word => text.windows(keyword.len()).any(|run| run == keyword),
            }
        })
    }
}

/// Check a rule's `match` and `priority` against its event: a rule on `message.received` answers
/// only the messages its keywords match, and keywords mean nothing on any other event.
///
/// # Errors
/// `invalid_keywords` for a missing, misplaced or invalid `match`; `invalid_priority` out of range or
/// on a rule without keywords.
pub fn check_rule_match(
    event: &EventName,
    keyword_match: Option<&KeywordMatch>,
    priority: Option<i32>,
) -> Result<()> {
    let on_messages = event.as_str() == MESSAGE_RECEIVED;
    match keyword_match {
        Some(matcher) if on_messages => matcher.validate()?,
        Some(_) => {
            return Err(Error::invalid(
                "invalid_keywords",
                format!("match is for rules on {MESSAGE_RECEIVED}; a rule on '{event}' has none"),
            ))
        }
        None if on_messages => {
            return Err(Error::invalid(
                "invalid_keywords",
                format!("a rule on {MESSAGE_RECEIVED} answers the messages its match.keywords match: give e.g. {{\"keywords\": [\"hours\", \"opening hours\"]}}"),
            ))
        }
        None => {}
    }
    match priority {
        Some(p) if !on_messages => Err(Error::invalid(
            "invalid_priority",
            format!("priority orders keyword rules on {MESSAGE_RECEIVED}; a rule on '{event}' has none (got {p})"),
        )),
        Some(p) if p.abs() > MAX_PRIORITY => Err(Error::invalid(
            "invalid_priority",
            format!("priority is between -{MAX_PRIORITY} and {MAX_PRIORITY} (got {p})"),
        )),
        _ => Ok(()),
    }
}

/// The words of `text`, lowercased.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !is_word_char(c))
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Letters and digits of any script, and the combining marks that accents are written with when a
/// text is not precomposed (`e` + U+0301).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(keywords: &[&str]) -> KeywordMatch {
        KeywordMatch {
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            mode: KeywordMode::Word,
            locales: Vec::new(),
        }
    }

    fn answers(rule: &KeywordMatch, text: &str) -> bool {
        rule.matches(text, None)
    }

    #[test]
    fn a_keyword_matches_whole_words_whatever_the_case_and_punctuation() {
        let hours = rule(&["hours"]);
        assert!(answers(&hours, "hours?"));
        assert!(answers(&hours, "  Opening HOURS  "));
        assert!(answers(&hours, "what are your hours, please"));
        assert!(!answers(&hours, "hoursly"));
        assert!(!answers(&hours, "our"));
        assert!(!answers(&hours, ""));
    }

    #[test]
    fn one_of_several_keywords_is_enough() {
        let faq = rule(&["hours", "open", "Öffnungszeiten"]);
        assert!(answers(&faq, "Are you OPEN today?"));
        assert!(answers(&faq, "ÖFFNUNGSZEITEN?"));
        assert!(!answers(&faq, "where are you"));
    }

    #[test]
    fn unicode_case_folds_and_decomposed_accents_stay_inside_the_word() {
        assert!(answers(&rule(&["STRAßE"]), "Straße?"));
        assert!(answers(&rule(&["часы"]), "Какие у вас ЧАСЫ работы?"));
        assert!(answers(&rule(&["ΏΡΕΣ"]), "ώρες;"));
        // "café" written as "cafe" + a combining acute accent is one word, not "caf" and "e".
        assert!(answers(&rule(&["cafe\u{301}"]), "CAFE\u{301}?"));
        assert!(!answers(&rule(&["cafe"]), "cafe\u{301}"));
    }

    #[test]
    fn a_keyword_of_several_words_matches_them_in_a_row() {
        let phrase = rule(&["opening hours"]);
        assert!(answers(&phrase, "your opening   hours?"));
        assert!(answers(&phrase, "Opening-Hours"));
        assert!(!answers(&phrase, "hours of opening"));
        assert!(!answers(&phrase, "opening"));
    }

    #[test]
    fn the_whole_mode_wants_the_keyword_as_the_whole_message() {
        let mut whole = rule(&["hours", "opening hours"]);
        whole.mode = KeywordMode::Whole;
        assert!(answers(&whole, " Hours? "));
        assert!(answers(&whole, "opening hours!"));
        assert!(!answers(&whole, "what are your hours"));
    }

    #[test]
    fn a_rule_restricted_to_locales_answers_their_speakers_and_a_language_covers_its_variants() {
        let mut german = rule(&["zeiten"]);
        german.locales = vec![Locale::parse("de").unwrap()];
        let de_at = Locale::parse("de-AT").unwrap();
        let en = Locale::parse("en").unwrap();
        assert!(german.matches("Zeiten?", Some(&de_at)));
        assert!(!german.matches("Zeiten?", Some(&en)));
        assert!(!german.matches("Zeiten?", None));
        let mut brazilian = rule(&["horário"]);
        brazilian.locales = vec![Locale::parse("pt-BR").unwrap()];
        assert!(brazilian.matches("horário", Some(&Locale::parse("pt-BR").unwrap())));
        assert!(!brazilian.matches("horário", Some(&Locale::parse("pt").unwrap())));
    }

    #[test]
    fn keywords_belong_to_rules_on_message_received_and_those_need_them() {
        let received = EventName::parse(MESSAGE_RECEIVED).unwrap();
        let shipped = EventName::parse("order.shipped").unwrap();
        let hours = rule(&["hours"]);
        assert!(check_rule_match(&received, Some(&hours), Some(5)).is_ok());
        assert!(check_rule_match(&shipped, None, None).is_ok());
        for (event, matcher, priority, code) in [
            (&received, None, None, "invalid_keywords"),
            (&shipped, Some(&hours), None, "invalid_keywords"),
            (&shipped, None, Some(1), "invalid_priority"),
            (
                &received,
                Some(&hours),
                Some(MAX_PRIORITY + 1),
                "invalid_priority",
            ),
        ] {
            let err = check_rule_match(event, matcher, priority).unwrap_err();
            assert_eq!(err.code(), code, "{event} {priority:?}");
        }
    }

    #[test]
    fn limits_and_empty_keywords_are_refused_with_what_to_fix() {
        assert_eq!(rule(&[]).validate().unwrap_err().code(), "invalid_keywords");
        let err = rule(&["?!"]).validate().unwrap_err();
        assert!(err.message().contains("'?!' has no letters or digits"));
        let long = "a".repeat(MAX_KEYWORD_CHARS + 1);
        assert!(rule(&[&long]).validate().is_err());
        let many: Vec<String> = (0..=MAX_KEYWORDS).map(|i| format!("k{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(rule(&many).validate().is_err());
        assert!(rule(&["hours", "opening hours"]).validate().is_ok());
    }
}
