//! The control protocol: one text request line, one text response.
//!
//! One request's path through this module: the client builds a [`Request`]
//! and writes [`Request::to_line`] followed by a newline; the server reads at
//! most [`MAX_REQUEST_LINE`] bytes and turns them back into the same request
//! with [`Request::parse`] (or into an `ERROR` response saying why not); the
//! server's [`Response::encode`] writes the body and a last line that is `OK`
//! or `ERROR <message>`, then closes; the client's [`Response::decode`]
//! splits the two again.
//!
//! The format is plain text so that an operator can talk to the socket with
//! `socat - UNIX-CONNECT:/run/rootward/control.sock` when the `ctl` client is
//! not at hand.

use std::fmt;

/// Longest request line the server reads, newline excluded. The longest
/// valid request is `trace-json NAME TYPE`, and a domain name is at most 253
/// characters in text (RFC 1035 §2.3.4; escapes like `\255` can make it up
/// to four times longer), so 1024 bytes leaves room for any real request
/// while bounding what a stray client can make the server buffer.
pub const MAX_REQUEST_LINE: usize = 1024;

/// The last line of a successful response.
pub const OK_LINE: &str = "OK";

/// The prefix of the last line of a failed response (followed by a space and
/// the message).
pub const ERROR_PREFIX: &str = "ERROR";

/// Record type `trace` asks for when the request names none (the same
/// default as `rootward ctl trace`).
pub const DEFAULT_TRACE_TYPE: &str = "A";

/// One control request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Counters of the running server (`stats`).
    Stats,
    /// Remove one name, every type, from the cache (`flush NAME`).
    Flush(String),
    /// Remove everything at or below a name (`flush-zone NAME`).
    FlushZone(String),
    /// Empty the cache (`flush-all`).
    FlushAll,
    /// The cache as text (`dump-cache`).
    DumpCache,
    /// Re-read the configuration (`reload`).
    Reload,
    /// Resolve a name with a private cache and report every decision
    /// (`trace NAME TYPE`, or `trace-json NAME TYPE` for JSON).
    Trace {
        /// The name, as the operator typed it.
        name: String,
        /// The record type, as the operator typed it (e.g. `A`, `aaaa`).
        qtype: String,
        /// JSON output instead of text.
        json: bool,
    },
    /// Test a name against the local policy without resolving it
    /// (`policy NAME TYPE`).
    Policy {
        /// The name, as the operator typed it.
        name: String,
        /// The record type, as the operator typed it.
        qtype: String,
    },
}

/// The verbs of the protocol, for error messages.
const VERBS: &str = "stats, flush NAME, flush-zone NAME, flush-all, dump-cache, reload, \
                     trace NAME TYPE, trace-json NAME TYPE, policy NAME TYPE";

impl Request {
    /// Parses one request line (a trailing `\n` or `\r\n` is allowed).
    /// Words are separated by spaces or tabs; the verb is lower case.
    pub fn parse(line: &str) -> Result<Request, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() > MAX_REQUEST_LINE {
            return Err(format!("request line longer than {MAX_REQUEST_LINE} bytes"));
        }
        if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(format!(
                "request contains a control character (U+{:04X})",
                u32::from(c)
            ));
        }
        let mut words = line.split_whitespace();
        let Some(verb) = words.next() else {
            return Err(format!("empty request (expected one of: {VERBS})"));
        };
        let args: Vec<&str> = words.collect();
        let no_args = |request: Request| {
            if args.is_empty() {
                Ok(request)
            } else {
                Err(format!("'{verb}' takes no arguments"))
            }
        };
        let one_name = || match args.as_slice() {
            [name] => Ok(name.to_string()),
            _ => Err(format!("'{verb}' takes one argument: NAME")),
        };
        let trace = |json: bool| match args.as_slice() {
            [name] => Ok(Request::Trace {
                name: name.to_string(),
                qtype: DEFAULT_TRACE_TYPE.to_string(),
                json,
            }),
            [name, qtype] => Ok(Request::Trace {
                name: name.to_string(),
                qtype: qtype.to_string(),
                json,
            }),
            _ => Err(format!("'{verb}' takes NAME and an optional TYPE")),
        };
        match verb {
            "stats" => no_args(Request::Stats),
            "flush" => one_name().map(Request::Flush),
            "flush-zone" => one_name().map(Request::FlushZone),
            "flush-all" => no_args(Request::FlushAll),
            "dump-cache" => no_args(Request::DumpCache),
            "reload" => no_args(Request::Reload),
            "trace" => trace(false),
            "trace-json" => trace(true),
            "policy" => trace(false).map(|r| match r {
                Request::Trace { name, qtype, .. } => Request::Policy { name, qtype },
                other => other,
            }),
            other => Err(format!(
                "unknown request '{other}' (expected one of: {VERBS})"
            )),
        }
    }

    /// The request line, without its newline. It parses back to `self`
    /// when every name and type is a single word without control
    /// characters; [`Request::check`] tells whether that holds.
    pub fn to_line(&self) -> String {
        match self {
            Request::Stats => "stats".to_string(),
            Request::Flush(name) => format!("flush {name}"),
            Request::FlushZone(name) => format!("flush-zone {name}"),
            Request::FlushAll => "flush-all".to_string(),
            Request::DumpCache => "dump-cache".to_string(),
            Request::Reload => "reload".to_string(),
            Request::Trace { name, qtype, json } => {
                let verb = if *json { "trace-json" } else { "trace" };
                format!("{verb} {name} {qtype}")
            }
            Request::Policy { name, qtype } => format!("policy {name} {qtype}"),
        }
    }

    /// Checks that the request can be sent as one line that the server will
    /// read back as this same request: names and types non-empty, one word
    /// each, no control characters, and the line within
    /// [`MAX_REQUEST_LINE`]. The server still judges whether a name is a
    /// valid domain name.
    pub fn check(&self) -> Result<(), String> {
        let words: Vec<(&str, &str)> = match self {
            Request::Flush(name) | Request::FlushZone(name) => vec![("name", name)],
            Request::Trace { name, qtype, .. } | Request::Policy { name, qtype } => {
                vec![("name", name), ("type", qtype)]
            }
            _ => Vec::new(),
        };
        for (what, word) in words {
            if word.is_empty() {
                return Err(format!("empty {what}"));
            }
            if word.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "invalid {what} '{}': it contains spaces or control characters",
                    word.escape_debug()
                ));
            }
        }
        let line = self.to_line();
        if line.len() > MAX_REQUEST_LINE {
            return Err(format!("request longer than {MAX_REQUEST_LINE} bytes"));
        }
        Ok(())
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

/// One control response: a body for people, and whether the request worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// What to print (any number of lines; may be empty).
    pub body: String,
    /// `Ok` for `OK`, `Err(message)` for `ERROR message`.
    pub result: Result<(), String>,
}

impl Response {
    /// A successful response with this body.
    pub fn ok(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            result: Ok(()),
        }
    }

    /// A failed response with an empty body.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            body: String::new(),
            result: Err(message.into()),
        }
    }

    /// The bytes the server sends: the body (given a final newline if it
    /// lacks one), then `OK` or `ERROR <message>` on a line of its own. A
    /// message spanning several lines is folded onto one, lines joined by
    /// `"; "`, so that the status stays the last line.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 64);
        out.push_str(&self.body);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        match &self.result {
            Ok(()) => out.push_str(OK_LINE),
            Err(message) => {
                out.push_str(ERROR_PREFIX);
                out.push(' ');
                out.push_str(&one_line(message));
            }
        }
        out.push('\n');
        out
    }

    /// Splits what the server sent into body and result. The last line must
    /// be `OK` or `ERROR ...`; anything else means the server stopped
    /// half-way (or is not rootward) and is an error.
    pub fn decode(text: &str) -> Result<Response, String> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.is_empty() {
            return Err("rootward closed the connection without an answer".to_string());
        }
        let (body, status) = match text.rfind('\n') {
            Some(i) => (&text[..=i], &text[i + 1..]),
            None => ("", text),
        };
        let status = status.strip_suffix('\r').unwrap_or(status);
        let result = if status == OK_LINE {
            Ok(())
        } else if status == ERROR_PREFIX {
            Err("unspecified error".to_string())
        } else if let Some(message) = status
            .strip_prefix(ERROR_PREFIX)
            .and_then(|rest| rest.strip_prefix(' '))
        {
            Err(message.to_string())
        } else {
            return Err(
                "incomplete answer from rootward (its last line is neither OK nor ERROR)"
                    .to_string(),
            );
        };
        Ok(Response {
            body: body.to_string(),
            result,
        })
    }
}

/// Folds a multi-line message onto one line.
fn one_line(message: &str) -> String {
    let folded: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if folded.is_empty() {
        "unspecified error".to_string()
    } else {
        folded.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_request() -> Vec<Request> {
        vec![
            Request::Stats,
            Request::Flush("example.com.".into()),
            Request::FlushZone("example.com".into()),
            Request::FlushAll,
            Request::DumpCache,
            Request::Reload,
            Request::Trace {
                name: "www.example.org".into(),
                qtype: "AAAA".into(),
                json: false,
            },
            Request::Trace {
                name: "example.org.".into(),
                qtype: "mx".into(),
                json: true,
            },
            Request::Policy {
                name: "ads.example".into(),
                qtype: "AAAA".into(),
            },
        ]
    }

    #[test]
    fn every_request_round_trips_through_its_line() {
        for request in every_request() {
            let line = request.to_line();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Request::parse(&line), Ok(request.clone()), "{line}");
            assert_eq!(Request::parse(&format!("{line}\r\n")), Ok(request.clone()));
            assert_eq!(request.check(), Ok(()));
        }
    }

    #[test]
    fn lines_with_wrong_arguments_are_refused_with_a_reason() {
        for (line, wanted) in [
            ("", "empty request"),
            ("   ", "empty request"),
            ("stats now", "'stats' takes no arguments"),
            ("flush", "'flush' takes one argument: NAME"),
            ("flush a b", "'flush' takes one argument: NAME"),
            ("flush-zone", "'flush-zone' takes one argument: NAME"),
            ("trace", "'trace' takes NAME and an optional TYPE"),
            ("trace a A x", "'trace' takes NAME and an optional TYPE"),
            ("STATS", "unknown request 'STATS'"),
            ("frobnicate", "unknown request 'frobnicate'"),
            ("flush a\u{7}", "control character"),
        ] {
            let err = Request::parse(line).unwrap_err();
            assert!(err.contains(wanted), "{line:?}: {err}");
        }
        let long = format!("flush {}", "a".repeat(MAX_REQUEST_LINE));
        assert!(Request::parse(&long).unwrap_err().contains("longer than"));
    }

    #[test]
    fn trace_type_defaults_to_a() {
        assert_eq!(
            Request::parse("trace example.com"),
            Ok(Request::Trace {
                name: "example.com".into(),
                qtype: "A".into(),
                json: false
            })
        );
    }

    #[test]
    fn check_refuses_what_would_not_survive_the_line() {
        assert_eq!(
            Request::Flush(String::new()).check(),
            Err("empty name".into())
        );
        assert!(Request::Flush("a b".into()).check().is_err());
        assert!(Request::FlushZone("a\nstats".into()).check().is_err());
        let trace = Request::Trace {
            name: "a".into(),
            qtype: String::new(),
            json: false,
        };
        assert_eq!(trace.check(), Err("empty type".into()));
        assert!(
            Request::Flush("a".repeat(MAX_REQUEST_LINE))
                .check()
                .is_err()
        );
    }

    #[test]
    fn responses_round_trip() {
        for response in [
            Response::ok(""),
            Response::ok("cache-entries: 12\nuptime-seconds: 3\n"),
            Response::ok("OK\n"),
            Response::ok("ERROR not really\n"),
            Response::error("not a domain name: 'a..b'"),
            Response {
                body: "partial\n".into(),
                result: Err("half done".into()),
            },
        ] {
            let text = response.encode();
            assert!(text.ends_with('\n'));
            assert_eq!(Response::decode(&text), Ok(response.clone()), "{text:?}");
        }
    }

    #[test]
    fn encode_adds_the_final_newline_and_folds_messages() {
        assert_eq!(Response::ok("a").encode(), "a\nOK\n");
        assert_eq!(Response::ok("").encode(), "OK\n");
        assert_eq!(
            Response::error("first\nsecond\n").encode(),
            "ERROR first; second\n"
        );
        assert_eq!(Response::error("").encode(), "ERROR unspecified error\n");
    }

    #[test]
    fn decode_refuses_a_truncated_answer() {
        assert!(Response::decode("").is_err());
        assert!(Response::decode("cache-entries: 1\n").is_err());
        assert!(Response::decode("OKAY\n").is_err());
        assert_eq!(
            Response::decode("ERROR\n").map(|r| r.result),
            Ok(Err("unspecified error".into()))
        );
    }
}
