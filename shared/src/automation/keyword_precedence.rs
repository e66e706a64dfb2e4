//! Which keyword rule answers when several match one message: at most one auto-answer per inbound
//! message, chosen the same way every time.

use crate::subscriber::{Channel, Locale, Subscriber};

use super::rule::{EventName, Rule};
use super::triggers::MESSAGE_RECEIVED;

/// The enabled rules that answer event `name` with `data` about `subscriber`: every rule on the
/// event, except that a message a person wrote (`message.received`) is answered by at most one rule,
/// the [`answering_rule`] for its text.
pub fn rules_answering<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    name: &EventName,
    data: &serde_json::Value,
    subscriber: Option<&Subscriber>,
) -> Vec<&'a Rule> {
    let on_event = rules
        .into_iter()
        .filter(|rule| rule.enabled && &rule.event == name);
    if name.as_str() != MESSAGE_RECEIVED {
        return on_event.collect();
    }
    let (Some(subscriber), Some(text)) = (subscriber, data["text"].as_str()) else {
        return Vec::new();
    };
    answering_rule(
        on_event,
        text,
        &subscriber.channel,
        subscriber.locale.as_ref(),
    )
    .into_iter()
    .collect()
}

/// The one rule that answers `text` written on `channel` by a person of `locale`: of the rules on that
/// channel whose keywords match, the one of the highest priority, the oldest of those, the smallest id
/// of those; `None` when none matches.
pub fn answering_rule<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    text: &str,
    channel: &Channel,
    locale: Option<&Locale>,
) -> Option<&'a Rule> {
    rules
        .into_iter()
        .filter(|rule| {
            rule.channels.contains(channel)
                && rule
                    .keyword_match
                    .as_ref()
                    .is_some_and(|matcher| matcher.matches(text, locale))
        })
        .min_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.created_at.cmp(&b.created_at))
                .then(a.id.as_str().cmp(b.id.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;
    use crate::automation::NewRule;

    fn rule(id: &str, keyword: &str, priority: i32, minute: u32) -> Rule {
        let created: DateTime<Utc> = format!("2026-11-24T12:{minute:02}:00Z").parse().unwrap();
        let request: NewRule = serde_json::from_value(json!({
            "event": MESSAGE_RECEIVED, "template_id": "faq", "channels": ["telegram:shop"],
            "kind": "transactional", "match": {"keywords": [keyword]}, "priority": priority
        }))
        .unwrap();
        request.into_rule(id, created, created).unwrap()
    }

    fn telegram() -> Channel {
        Channel::parse("telegram:shop").unwrap()
    }

    fn answer<'a>(rules: &'a [Rule], text: &str) -> Option<&'a str> {
        answering_rule(rules, text, &telegram(), None).map(|rule| rule.id.as_str())
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
    fn a_rule_answers_only_on_its_channels() {
        let mut whatsapp_only = rule("whatsapp-faq", "hours", 10, 1);
        whatsapp_only.channels = vec![Channel::parse("whatsapp:1122334455").unwrap()];
        let rules = [whatsapp_only, rule("telegram-faq", "hours", 0, 2)];
        assert_eq!(answer(&rules, "hours"), Some("telegram-faq"));
        assert_eq!(answer(&rules[..1], "hours"), None);
    }

    #[test]
    fn a_message_no_rule_matches_gets_no_answer() {
        let rules = [rule("faq", "hours", 0, 1)];
        assert_eq!(answer(&rules, "thanks!"), None);
        assert_eq!(answer(&[], "hours"), None);
    }
}
