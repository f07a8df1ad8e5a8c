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

/// A topic filter, as SUBSCRIBE and UNSUBSCRIBE carry it.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
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
pub fn matches(filter: &str, name: &str) -> bool {
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
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!matches("#", "$SYS/broker"));
        assert!(!matches("+/broker", "$SYS/broker"));
        assert!(!matches("+", "$x"));
        assert!(matches("$SYS/#", "$SYS"));
    }
}
