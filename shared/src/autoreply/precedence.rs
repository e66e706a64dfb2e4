//! Which keyword rule answers when several match one message: at most one auto-answer per inbound
//! message, chosen the same way every time.

use chrono::{DateTime, Utc};

use crate::subscriber::{Channel, Locale};

use super::keywords::KeywordMatch;

/// What precedence needs to know of a keyword rule.
pub trait KeywordRule {
    /// Its id (the last tie-breaker).
    fn rule_id(&self) -> &str;
    /// Its matcher.
    fn keyword_match(&self) -> &KeywordMatch;
    /// Higher answers first.
    fn priority(&self) -> i32;
    /// Among equal priorities, the older answers first.
    fn created_at(&self) -> DateTime<Utc>;
}

/// The one rule that answers `text` written on `channel` by a person of `locale`: the matching rule of
/// the highest priority, the oldest of those, the smallest id of those; `None` when none matches.
pub fn answering_rule<'a, R: KeywordRule>(
    rules: &'a [R],
    text: &str,
    channel: &Channel,
    locale: Option<&Locale>,
) -> Option<&'a R> {
    rules
        .iter()
        .filter(|rule| rule.keyword_match().matches(text, channel, locale))
        .min_by(|a, b| {
            b.priority()
                .cmp(&a.priority())
                .then(a.created_at().cmp(&b.created_at()))
                .then(a.rule_id().cmp(b.rule_id()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoreply::keywords::KeywordMode;

    struct Rule {
        id: &'static str,
        matcher: KeywordMatch,
        priority: i32,
        created_at: DateTime<Utc>,
    }

    impl KeywordRule for Rule {
        fn rule_id(&self) -> &str {
            self.id
        }
        fn keyword_match(&self) -> &KeywordMatch {
            &self.matcher
        }
        fn priority(&self) -> i32 {
            self.priority
        }
        fn created_at(&self) -> DateTime<Utc> {
            self.created_at
        }
    }

    fn rule(id: &'static str, keyword: &str, priority: i32, minute: u32) -> Rule {
        Rule {
            id,
            matcher: KeywordMatch {
                keywords: vec![keyword.to_owned()],
                mode: KeywordMode::Word,
                channels: Vec::new(),
                locales: Vec::new(),
            },
            priority,
            created_at: format!("2026-11-24T12:{minute:02}:00Z").parse().unwrap(),
        }
    }

    fn answer<'a>(rules: &'a [Rule], text: &str) -> Option<&'a str> {
        let channel = Channel::parse("telegram:shop").unwrap();
        answering_rule(rules, text, &channel, None).map(|rule| rule.id)
    }

    #[test]
    fn of_several_matching_rules_exactly_one_answers_by_priority_then_age_then_id() {
        let rules = [
            rule("b-newer", "hours", 0, 5),
            rule("a-older", "hours", 0, 1),
            rule("c-same-age", "hours", 0, 1),
        ];
        assert_eq!(answer(&rules, "hours?"), Some("a-older"));
        let with_priority = [rule("old", "hours", 0, 1), rule("urgent", "opening", 10, 9)];
        assert_eq!(answer(&with_priority, "opening hours"), Some("urgent"));
        assert_eq!(answer(&with_priority, "hours"), Some("old"));
    }

    #[test]
    fn a_message_no_rule_matches_gets_no_answer() {
        let rules = [rule("faq", "hours", 0, 1)];
        assert_eq!(answer(&rules, "thanks!"), None);
        assert_eq!(answer(&[], "hours"), None);
    }
}
