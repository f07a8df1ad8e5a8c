//! The little JSON the application needs, without a JSON crate: a strict
//! reader for the one command shape (`{"led": true}`), a validator (so the
//! simulator can echo a command as the JSON value itself), and string
//! escaping for what the application writes.

/// Why a command was not acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Not valid JSON (or not UTF-8).
    NotJson,
    /// Valid JSON, but not an object.
    NotObject,
    /// An object without the `"led"` key.
    NoLed,
    /// `"led"` is not `true` or `false`.
    LedNotBool,
    /// A key other than `"led"`.
    UnknownKey,
    /// A key given twice.
    DuplicateKey,
}

impl CommandError {
    pub fn reason(self) -> &'static str {
        match self {
            CommandError::NotJson => "command is not valid JSON",
            CommandError::NotObject => "command is not a JSON object",
            CommandError::NoLed => "command has no \"led\" key",
            CommandError::LedNotBool => "\"led\" must be true or false",
            CommandError::UnknownKey => "command has a key other than \"led\"",
            CommandError::DuplicateKey => "command has a key twice",
        }
    }
}

/// A command the application acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Led(bool),
}

/// Parses a command: exactly one JSON object whose only key is `"led"`,
/// with a boolean value (whitespace allowed where JSON allows it).
pub fn parse_command(payload: &[u8]) -> Result<Command, CommandError> {
    let text = core::str::from_utf8(payload).map_err(|_| CommandError::NotJson)?;
    let mut r = Reader { s: text.as_bytes(), i: 0 };
    r.ws();
    if r.peek() != Some(b'{') {
        // Still tell "not JSON" from "JSON, not an object".
        return Err(if is_json(payload) { CommandError::NotObject } else { CommandError::NotJson });
    }
    r.i += 1;
    let mut led = None;
    let mut other = false;
    let mut dup = false;
    r.ws();
    if r.peek() == Some(b'}') {
        r.i += 1;
    } else {
        loop {
            r.ws();
            let key = r.string().ok_or(CommandError::NotJson)?;
            r.ws();
            if !r.eat(b':') {
                return Err(CommandError::NotJson);
            }
            r.ws();
            if key == "led" {
                dup |= led.is_some();
                led = Some(match r.peek() {
                    Some(b't') if r.lit("true") => Ok(true),
                    Some(b'f') if r.lit("false") => Ok(false),
                    _ => {
                        r.value().ok_or(CommandError::NotJson)?;
                        Err(CommandError::LedNotBool)
                    }
                });
            } else {
                other = true;
                r.value().ok_or(CommandError::NotJson)?;
            }
            r.ws();
            if r.eat(b',') {
                continue;
            }
            if r.eat(b'}') {
                break;
            }
            return Err(CommandError::NotJson);
        }
    }
    r.ws();
    if r.i != r.s.len() {
        return Err(CommandError::NotJson);
    }
    if dup {
        return Err(CommandError::DuplicateKey);
    }
    if other {
        return Err(CommandError::UnknownKey);
    }
    match led {
        None => Err(CommandError::NoLed),
        Some(v) => v.map(Command::Led),
    }
}

/// Whether `text` is exactly one JSON value (RFC 8259), surrounding
/// whitespace allowed. Nesting deeper than 32 levels is refused.
pub fn is_json(text: &[u8]) -> bool {
    if core::str::from_utf8(text).is_err() {
        return false;
    }
    let mut r = Reader { s: text, i: 0 };
    r.ws();
    let ok = r.value().is_some();
    r.ws();
    ok && r.i == text.len()
}

/// Appends `s` as a JSON string literal (quotes included).
pub fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const MAX_DEPTH: usize = 32;

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &str) -> bool {
        let hit = self.s[self.i..].starts_with(word.as_bytes());
        if hit {
            self.i += word.len();
        }
        hit
    }

    fn value(&mut self) -> Option<()> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.eat(b'}') {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.ws();
                    self.eat(b':').then_some(())?;
                    self.ws();
                    self.value_at(depth + 1)?;
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    return self.eat(b'}').then_some(());
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']') {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.value_at(depth + 1)?;
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    return self.eat(b']').then_some(());
                }
            }
            b'"' => self.string().map(|_| ()),
            b't' => self.lit("true").then_some(()),
            b'f' => self.lit("false").then_some(()),
            b'n' => self.lit("null").then_some(()),
            _ => self.number(),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// A string literal; returns its raw text between the quotes (escapes
    /// checked, not decoded: a key with an escape never equals "led").
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => {
                    let s: &'a [u8] = self.s;
                    let raw = core::str::from_utf8(&s[start..self.i]).ok()?;
                    self.i += 1;
                    return Some(raw);
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            self.i += 1;
                            for _ in 0..4 {
                                self.peek()?.is_ascii_hexdigit().then_some(())?;
                                self.i += 1;
                            }
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn led_commands() {
        assert_eq!(parse_command(br#"{"led": true}"#), Ok(Command::Led(true)));
        assert_eq!(parse_command(br#"{"led":false}"#), Ok(Command::Led(false)));
        assert_eq!(parse_command(b" \n{ \"led\" :\ttrue }\r\n"), Ok(Command::Led(true)));
    }

    #[test]
    fn refused_commands() {
        assert_eq!(parse_command(b""), Err(CommandError::NotJson));
        assert_eq!(parse_command(b"led on"), Err(CommandError::NotJson));
        assert_eq!(parse_command(br#"{"led": true"#), Err(CommandError::NotJson));
        assert_eq!(parse_command(br#"{"led": true}x"#), Err(CommandError::NotJson));
        assert_eq!(parse_command(br#"{"led": tru}"#), Err(CommandError::NotJson));
        assert_eq!(parse_command(br#"{"led": true,}"#), Err(CommandError::NotJson));
        assert_eq!(parse_command(&[b'{', 0xff, b'}']), Err(CommandError::NotJson));
        assert_eq!(parse_command(b"[true]"), Err(CommandError::NotObject));
        assert_eq!(parse_command(b"true"), Err(CommandError::NotObject));
        assert_eq!(parse_command(b"{}"), Err(CommandError::NoLed));
        assert_eq!(parse_command(br#"{"led": 1}"#), Err(CommandError::LedNotBool));
        assert_eq!(parse_command(br#"{"led": "true"}"#), Err(CommandError::LedNotBool));
        assert_eq!(parse_command(br#"{"led": null}"#), Err(CommandError::LedNotBool));
        assert_eq!(parse_command(br#"{"led": true, "x": 1}"#), Err(CommandError::UnknownKey));
        assert_eq!(parse_command(br#"{"LED": true}"#), Err(CommandError::UnknownKey));
        assert_eq!(parse_command(br#"{"led": true, "led": false}"#), Err(CommandError::DuplicateKey));
    }

    #[test]
    fn validator() {
        for ok in
            ["0", "-1.5e+3", "\"a\\u00e9\\n\"", "null", "[]", "{}", r#"{"a":[1,{"b":null}],"c":"d"}"#, " [ 1 , 2 ] "]
        {
            assert!(is_json(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "01", "1.", "-", "[1,]", "{\"a\"}", "{a:1}", "\"\\x\"", "\"a", "[1] 2", "nul", "\"\u{1}\""] {
            assert!(!is_json(bad.as_bytes()), "{bad}");
        }
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert!(!is_json(deep.as_bytes()));
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        push_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }
}
