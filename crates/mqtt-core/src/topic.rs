//! Topic names, topic filters and matching (4.7).

/// Why a topic name or filter is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// Zero length [MQTT-4.7.3-1].
    Empty,
    /// More than 65,535 bytes of UTF-8 [MQTT-4.7.3-3].
    TooLong,
    /// U+0000 [MQTT-4.7.3-2].
    NullCharacter,
    /// A wildcard in a topic name [MQTT-3.3.2-2] [MQTT-4.7.1-1].
    WildcardInName,
    /// `#` not alone in the last level [MQTT-4.7.1-2].
    MisplacedMultiLevelWildcard,
    /// `+` not alone in its level [MQTT-4.7.1-3].
    MisplacedSingleLevelWildcard,
    /// `$share//...`: a shared subscription needs a group name.
    SharedGroupEmpty,
    /// A shared subscription group with `+` or `#` (a `/` ends the group).
    SharedGroupWildcard,
    /// `$share/<group>` with no filter (or an empty one) after the group.
    SharedFilterMissing,
}

impl TopicError {
    pub fn reason(self) -> &'static str {
        use TopicError::*;
        match self {
            Empty => "topic must not be empty",
            TooLong => "topic longer than 65535 bytes",
            NullCharacter => "topic contains U+0000",
            WildcardInName => "topic name may not contain + or #",
            MisplacedMultiLevelWildcard => "# must be the last level of a filter, alone",
            MisplacedSingleLevelWildcard => "+ must occupy a whole level of a filter",
            SharedGroupEmpty => "shared subscription group must not be empty ($share/<group>/<filter>)",
            SharedGroupWildcard => "shared subscription group must not contain '/', '+' or '#'",
            SharedFilterMissing => "shared subscription needs a filter after the group ($share/<group>/<filter>)",
        }
    }
}

impl core::fmt::Display for TopicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.reason())
    }
}

fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > 65_535 {
        return Err(TopicError::TooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// A topic name, as PUBLISH carries it: no wildcards.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    if name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// The prefix of a shared subscription, `$share/<group>/<filter>`: the
/// broker hands each message of the filter to one member of the group.
/// MQTT 3.1.1 does not define it; brokers (mosquitto, EMQX, HiveMQ,
/// VerneMQ) accept it from 3.1.1 clients as MQTT 5 defines it (4.8.2).
pub const SHARE_PREFIX: &str = "$share/";

/// Splits a shared subscription into its group and filter; `None` for any
/// other filter (other `$` filters keep their 3.1.1 meaning).
pub fn split_shared(filter: &str) -> Option<(&str, Option<&str>)> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    Some(match rest.split_once('/') {
        Some((group, f)) => (group, Some(f)),
        None => (rest, None),
    })
}

/// A topic filter, as SUBSCRIBE and UNSUBSCRIBE carry it; a shared
/// subscription's group and filter are checked apart.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    match split_shared(filter) {
        None => validate_levels(filter),
        Some((group, f)) => {
            if group.is_empty() {
                return Err(TopicError::SharedGroupEmpty);
            }
            if group.contains(['+', '#']) {
                return Err(TopicError::SharedGroupWildcard);
            }
            match f {
                None | Some("") => Err(TopicError::SharedFilterMissing),
                Some(f) => validate_levels(f),
            }
        }
    }
}

fn validate_levels(filter: &str) -> Result<(), TopicError> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        if level.contains('#') && (level != "#" || !last) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Does `filter` match topic `name`? Both are assumed valid. A filter that
/// starts with a wildcard does not match a name starting with `$` (4.7.2).
/// A shared subscription matches what its filter after the group matches.
pub fn matches(filter: &str, name: &str) -> bool {
    let filter = match split_shared(filter) {
        Some((_, Some(f))) => f,
        _ => filter,
    };
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut n = name.split('/');
    loop {
        match (f.next(), n.next()) {
            // `#` matches the parent level too: "a/#" matches "a".
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(nl)) if fl == nl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn mqtt_4_7_1_1_wildcards_are_refused_in_names() {
        assert_eq!(validate_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("a+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("sport/tennis/player1"), Ok(()));
        assert_eq!(validate_name("/"), Ok(()));
        assert_eq!(validate_name(" "), Ok(()));
    }

    #[test]
    fn mqtt_4_7_1_2_multi_level_wildcard_must_be_last_and_alone() {
        for ok in ["#", "a/#", "/#", "a/b/#", "+/#"] {
            assert_eq!(validate_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["a/#/b", "#a", "a#", "a/b#", "##", "#/"] {
            assert_eq!(validate_filter(bad), Err(TopicError::MisplacedMultiLevelWildcard), "{bad}");
        }
    }

    #[test]
    fn mqtt_4_7_1_3_single_level_wildcard_occupies_a_whole_level() {
        for ok in ["+", "+/+", "/+", "a/+/b", "+/tennis/#"] {
            assert_eq!(validate_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["a+", "+a", "a/b+/c", "++"] {
            assert_eq!(validate_filter(bad), Err(TopicError::MisplacedSingleLevelWildcard), "{bad}");
        }
    }

    #[test]
    fn mqtt_4_7_3_1_empty_is_refused() {
        assert_eq!(validate_name(""), Err(TopicError::Empty));
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
    }

    #[test]
    fn mqtt_4_7_3_2_null_character_is_refused() {
        assert_eq!(validate_name("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(validate_filter("a/\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn mqtt_4_7_3_3_longer_than_65535_bytes_is_refused() {
        let max: String = "a".repeat(65_535);
        assert_eq!(validate_name(&max), Ok(()));
        let over: String = "a".repeat(65_536);
        assert_eq!(validate_name(&over), Err(TopicError::TooLong));
        assert_eq!(validate_filter(&over), Err(TopicError::TooLong));
        // Bytes, not characters: 32,768 two-byte characters are 65,536 bytes.
        let wide: String = "é".repeat(32_768);
        assert_eq!(validate_name(&wide), Err(TopicError::TooLong));
    }

    #[test]
    fn matching_follows_4_7() {
        let yes = [
            ("sport/tennis/player1/#", "sport/tennis/player1"),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking"),
            ("sport/#", "sport"),
            ("#", "a/b/c"),
            ("sport/tennis/+", "sport/tennis/player1"),
            ("sport/+", "sport/"),
            ("+/+", "/finance"),
            ("/+", "/finance"),
            ("+", "a"),
            ("a/b", "a/b"),
            ("$SYS/#", "$SYS/broker"),
            ("$SYS/+", "$SYS/x"),
        ];
        for (f, n) in yes {
            assert!(matches(f, n), "{f} should match {n}");
        }
        let no = [
            ("sport/tennis/+", "sport/tennis/player1/ranking"),
            ("sport/+", "sport"),
            ("+", "/finance"),
            ("a/b", "a/b/c"),
            ("a/b/c", "a/b"),
            ("a", "A"),
        ];
        for (f, n) in no {
            assert!(!matches(f, n), "{f} should not match {n}");
        }
    }

    #[test]
    fn shared_subscriptions_are_accepted_with_a_group_and_a_valid_filter() {
        for ok in ["$share/g/t/#", "$share/g/#", "$share/g/+", "$share/group-1/a/+/b", "$share/g//", "$share/g/$SYS/#"]
        {
            assert_eq!(validate_filter(ok), Ok(()), "{ok}");
        }
        assert_eq!(split_shared("$share/g/t/#"), Some(("g", Some("t/#"))));
        assert_eq!(split_shared("$SYS/#"), None);
    }

    #[test]
    fn shared_subscription_group_is_non_empty_without_wildcards() {
        assert_eq!(validate_filter("$share//t"), Err(TopicError::SharedGroupEmpty));
        for bad in ["$share/+/t", "$share/#/t", "$share/g+/t", "$share/a#b/t"] {
            assert_eq!(validate_filter(bad), Err(TopicError::SharedGroupWildcard), "{bad}");
        }
        assert!(TopicError::SharedGroupWildcard.reason().contains("'/', '+' or '#'"));
    }

    #[test]
    fn shared_subscription_needs_a_filter_after_the_group() {
        for bad in ["$share/g", "$share/g/", "$share/#"] {
            let e = validate_filter(bad).unwrap_err();
            assert!(matches!(e, TopicError::SharedFilterMissing | TopicError::SharedGroupWildcard), "{bad}: {e:?}");
        }
        assert_eq!(validate_filter("$share/g"), Err(TopicError::SharedFilterMissing));
        assert_eq!(validate_filter("$share/g/"), Err(TopicError::SharedFilterMissing));
    }

    #[test]
    fn mqtt_4_7_1_2_mqtt_4_7_1_3_hold_in_the_filter_after_a_share_group() {
        assert_eq!(validate_filter("$share/g/a/#/b"), Err(TopicError::MisplacedMultiLevelWildcard));
        assert_eq!(validate_filter("$share/g/a+"), Err(TopicError::MisplacedSingleLevelWildcard));
        assert_eq!(validate_filter("$share/g/t\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn other_dollar_filters_keep_their_3_1_1_meaning() {
        // "$share" alone, or another prefix, is a plain filter.
        for ok in ["$share", "$shared/g/t", "$SYS/#", "$SHARE/+/t"] {
            assert_eq!(validate_filter(ok), Ok(()), "{ok}");
        }
        assert!(matches("$share/g/t/#", "t/a"));
        assert!(!matches("$share/g/#", "$SYS/x"), "a leading wildcard after the group skips $ topics too");
        assert!(matches("$share/g/$SYS/#", "$SYS/x"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!matches("#", "$SYS/broker"));
        assert!(!matches("+/broker", "$SYS/broker"));
        assert!(!matches("+", "$x"));
        assert!(matches("$SYS/#", "$SYS"));
    }
}
